"""The webhook outbox rows every backend writes when a background response ends: one delivery
per endpoint of the tenant that asked for the event, all carrying one event in OpenAI's
webhook shape (`{"id": "evt_…", "object": "event", "type": "response.completed",
"created_at": …, "data": {"id": "resp_…"}}`)."""

from __future__ import annotations

import time

import orjson

from threadline import ids
from threadline.storage.webhook_records import WebhookDelivery, WebhookEndpointRecord

ENDING_STATUSES = frozenset({"completed", "failed", "incomplete", "cancelled"})


def deliveries_for(
    endpoints: list[WebhookEndpointRecord], response_id: str, status: str
) -> list[WebhookDelivery]:
    """The deliveries of the event that `response_id` ended `status`, for the endpoints that
    asked for it (none for a status that is not an end)."""
    if status not in ENDING_STATUSES:
        return []
    event_type = f"response.{status}"
    wanted = [e for e in endpoints if event_type in e.event_types]
    if not wanted:
        return []
    now = time.time()
    event_id = ids.new_id(ids.EVENT)
    payload = orjson.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "created_at": int(now),
            "data": {"id": response_id},
        }
    ).decode()
    return [
        WebhookDelivery(
            id=ids.new_id(ids.WEBHOOK_DELIVERY),
            event_id=event_id,
            endpoint_id=endpoint.id,
            tenant=endpoint.tenant,
            event_type=event_type,
            payload=payload,
            created_at=now,
            next_attempt_at=now,
        )
        for endpoint in wanted
    ]
