"""The webhook part of MemoryStore: endpoints, and the outbox its turns write (see memory.py for
why nothing here interleaves)."""

from __future__ import annotations

import dataclasses
from operator import attrgetter

from threadline.errors import Conflict
from threadline.storage.outbox import deliveries_for
from threadline.storage.webhook_records import DueDelivery, WebhookDelivery, WebhookEndpointRecord


@dataclasses.dataclass(slots=True)
class _Delivery:
    delivery: WebhookDelivery
    owner: str | None = None
    lease_until: float = 0.0


class MemoryWebhooks:
    def __init__(self) -> None:
        self._endpoints: dict[str, WebhookEndpointRecord] = {}
        self._deliveries: dict[str, _Delivery] = {}

    def _write_outbox(self, tenant: str, response_id: str, status: str) -> None:
        mine = [e for e in self._endpoints.values() if e.tenant == tenant]
        for delivery in deliveries_for(mine, response_id, status):
            self._deliveries[delivery.id] = _Delivery(delivery)

    async def create_webhook_endpoint(self, endpoint: WebhookEndpointRecord) -> None:
        if endpoint.id in self._endpoints:
            raise Conflict(f"A webhook endpoint with id '{endpoint.id}' already exists")
        self._endpoints[endpoint.id] = dataclasses.replace(
            endpoint, event_types=list(endpoint.event_types)
        )

    async def get_webhook_endpoint(
        self, tenant: str, endpoint_id: str
    ) -> WebhookEndpointRecord | None:
        found = self._endpoints.get(endpoint_id)
        if found is None or found.tenant != tenant:
            return None
        return dataclasses.replace(found, event_types=list(found.event_types))

    async def list_webhook_endpoints(self, tenant: str | None) -> list[WebhookEndpointRecord]:
        return [
            dataclasses.replace(e, event_types=list(e.event_types))
            for e in sorted(self._endpoints.values(), key=attrgetter("created_at", "id"))
            if tenant is None or e.tenant == tenant
        ]

    async def update_webhook_endpoint(self, endpoint: WebhookEndpointRecord) -> bool:
        found = self._endpoints.get(endpoint.id)
        if found is None or found.tenant != endpoint.tenant:
            return False
        self._endpoints[endpoint.id] = dataclasses.replace(
            endpoint, created_at=found.created_at, event_types=list(endpoint.event_types)
        )
        return True

    async def delete_webhook_endpoint(self, tenant: str, endpoint_id: str) -> bool:
        found = self._endpoints.get(endpoint_id)
        if found is None or found.tenant != tenant:
            return False
        del self._endpoints[endpoint_id]
        for delivery_id, kept in list(self._deliveries.items()):
            if kept.delivery.endpoint_id == endpoint_id:
                del self._deliveries[delivery_id]
        return True

    async def take_webhook_deliveries(
        self, owner: str, *, now: float, lease_until: float, limit: int
    ) -> list[DueDelivery]:
        due = [
            kept
            for kept in self._deliveries.values()
            if kept.delivery.status == "pending"
            and (kept.delivery.next_attempt_at or 0.0) <= now
            and (kept.owner is None or kept.lease_until < now)
        ]
        due.sort(key=lambda kept: kept.delivery.next_attempt_at or 0.0)
        taken: list[DueDelivery] = []
        for kept in due[:limit]:
            kept.owner, kept.lease_until = owner, lease_until
            endpoint = self._endpoints[kept.delivery.endpoint_id]
            taken.append(
                DueDelivery(dataclasses.replace(kept.delivery), endpoint.url, endpoint.secret)
            )
        return taken

    async def record_webhook_attempt(self, delivery: WebhookDelivery) -> None:
        if (kept := self._deliveries.get(delivery.id)) is not None:
            kept.delivery = dataclasses.replace(delivery)
            kept.owner = None

    async def list_webhook_deliveries(
        self, tenant: str | None, *, limit: int
    ) -> list[WebhookDelivery]:
        mine = [
            dataclasses.replace(kept.delivery)
            for kept in self._deliveries.values()
            if tenant is None or kept.delivery.tenant == tenant
        ]
        mine.sort(key=attrgetter("created_at", "id"), reverse=True)
        return mine[:limit]

    async def redeliver_webhook(self, tenant: str | None, delivery_id: str, now: float) -> bool:
        kept = self._deliveries.get(delivery_id)
        if kept is None or (tenant is not None and kept.delivery.tenant != tenant):
            return False
        kept.delivery.status, kept.delivery.next_attempt_at = "pending", now
        kept.owner = None
        return True
