"""/v1/webhook_endpoints (OpenAI's shape) and the operator's delivery log.

A tenant registers endpoints for the events of its background responses
(`response.completed`, `.failed`, `.cancelled`, `.incomplete`). The signing secret is shown
when the endpoint is created and when it is rotated, never again (a hint of it is); it is
stored sealed (sealing.py) because signing needs it back."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import orjson

from threadline import ids
from threadline.engine.clock import Clock, system_clock
from threadline.engine.webhooks.sealing import SealedSecrets
from threadline.engine.webhooks.signing import hint, new_secret
from threadline.errors import InvalidRequest, NotFound
from threadline.storage.base import Store
from threadline.storage.webhook_records import WebhookDelivery, WebhookEndpointRecord
from threadline.tools.base import WebhookSender

EVENT_TYPES = ("response.completed", "response.failed", "response.cancelled", "response.incomplete")
MAX_ENDPOINTS = 20
"""Endpoints a tenant may have (each ended response is written once per endpoint)."""


class WebhookService:
    def __init__(
        self,
        store: Store,
        sealed: SealedSecrets,
        sender: WebhookSender,
        clock: Clock = system_clock,
    ) -> None:
        self._store = store
        self._sealed = sealed
        self._sender = sender
        self._clock = clock

    async def create(
        self, tenant: str, *, name: str, url: str, event_types: list[str]
    ) -> dict[str, Any]:
        _check(name, url, event_types)
        await self._check_reachable(url)
        if len(await self._store.list_webhook_endpoints(tenant)) >= MAX_ENDPOINTS:
            raise InvalidRequest(
                f"A tenant can have at most {MAX_ENDPOINTS} webhook endpoints; delete one first."
            )
        secret, now = new_secret(), self._clock()
        endpoint = WebhookEndpointRecord(
            id=ids.new_id(ids.WEBHOOK_ENDPOINT),
            tenant=tenant,
            name=name,
            url=url,
            event_types=list(dict.fromkeys(event_types)),
            secret=self._sealed.seal(secret),
            secret_hint=hint(secret),
            created_at=now,
            updated_at=now,
        )
        await self._store.create_webhook_endpoint(endpoint)
        return {**endpoint_object(endpoint), "signing_secret": secret}

    async def retrieve(self, tenant: str, endpoint_id: str) -> dict[str, Any]:
        return endpoint_object(await self._endpoint(tenant, endpoint_id))

    async def list_page(self, tenant: str, *, after: str | None, limit: int) -> dict[str, Any]:
        endpoints = await self._store.list_webhook_endpoints(tenant)
        if after is not None:
            ids_ = [e.id for e in endpoints]
            if after not in ids_:
                raise InvalidRequest(f"No webhook endpoint with id '{after}'.", param="after")
            endpoints = endpoints[ids_.index(after) + 1 :]
        page = endpoints[:limit]
        return {
            "object": "list",
            "data": [endpoint_object(e) for e in page],
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
            "has_more": len(endpoints) > limit,
        }

    async def update(
        self,
        tenant: str,
        endpoint_id: str,
        *,
        name: str | None,
        url: str | None,
        event_types: list[str] | None,
    ) -> dict[str, Any]:
        endpoint = await self._endpoint(tenant, endpoint_id)
        changed = dataclasses.replace(
            endpoint,
            name=endpoint.name if name is None else name,
            url=endpoint.url if url is None else url,
            event_types=endpoint.event_types if event_types is None else event_types,
        )
        _check(changed.name, changed.url, changed.event_types)
        if changed.url != endpoint.url:
            await self._check_reachable(changed.url)
        if changed != endpoint:
            changed.updated_at = self._clock()
            if not await self._store.update_webhook_endpoint(changed):
                raise _not_found(endpoint_id)
        return endpoint_object(changed)

    async def delete(self, tenant: str, endpoint_id: str) -> dict[str, Any]:
        if not await self._store.delete_webhook_endpoint(tenant, endpoint_id):
            raise _not_found(endpoint_id)
        return {"id": endpoint_id, "object": "webhook_endpoint.deleted", "deleted": True}

    async def rotate_secret(self, tenant: str, endpoint_id: str) -> dict[str, Any]:
        """A new secret signs every delivery from now on, retries of earlier events too."""
        endpoint = await self._endpoint(tenant, endpoint_id)
        secret = new_secret()
        rotated = dataclasses.replace(
            endpoint,
            secret=self._sealed.seal(secret),
            secret_hint=hint(secret),
            updated_at=self._clock(),
        )
        if not await self._store.update_webhook_endpoint(rotated):
            raise _not_found(endpoint_id)
        return {**endpoint_object(rotated), "signing_secret": secret}

    async def test(self, tenant: str, endpoint_id: str, event_type: str) -> dict[str, Any]:
        """Send a sample event now, signed as deliveries are; the endpoint's HTTP status."""
        if event_type not in EVENT_TYPES:
            raise _unsupported_event(event_type, "event_type")
        endpoint = await self._endpoint(tenant, endpoint_id)
        event_id = ids.new_id(ids.EVENT)
        body = orjson.dumps(
            {
                "id": event_id,
                "object": "event",
                "type": event_type,
                "created_at": int(time.time()),
                "data": {"id": ids.new_id(ids.RESPONSE)},
            }
        ).decode()
        attempt = await self._sender.send(
            endpoint.url, self._sealed.open(endpoint.secret), event_id, body
        )
        if attempt.status_code is None:
            raise InvalidRequest(f"The test event could not be sent: {attempt.error}.", param="url")
        return {
            "object": "webhook_endpoint.test",
            "event_type": event_type,
            "status_code": attempt.status_code,
            "success": True,
            "webhook_endpoint_id": endpoint_id,
        }

    async def deliveries(self, tenant: str | None, *, limit: int) -> list[WebhookDelivery]:
        return await self._store.list_webhook_deliveries(tenant, limit=limit)

    async def redeliver(self, tenant: str | None, delivery_id: str) -> None:
        if not await self._store.redeliver_webhook(tenant, delivery_id, self._clock()):
            raise NotFound(f"No webhook delivery with id '{delivery_id}'.")

    async def _check_reachable(self, url: str) -> None:
        """Refuse, at once, a URL the outbound guard would refuse at every delivery."""
        if (refused := await self._sender.refusal(url)) is not None:
            raise InvalidRequest(refused, param="url")

    async def _endpoint(self, tenant: str, endpoint_id: str) -> WebhookEndpointRecord:
        endpoint = await self._store.get_webhook_endpoint(tenant, endpoint_id)
        if endpoint is None:
            raise _not_found(endpoint_id)
        return endpoint


def endpoint_object(endpoint: WebhookEndpointRecord) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "name": endpoint.name,
        "url": endpoint.url,
        "event_types": endpoint.event_types,
        "signing_secret_hint": endpoint.secret_hint,
        "created_at": int(endpoint.created_at),
        "updated_at": int(endpoint.updated_at),
    }


def _check(name: str, url: str, event_types: list[str]) -> None:
    if not name.strip():
        raise InvalidRequest("'name' must not be empty.", param="name")
    if not url.startswith(("https://", "http://")):
        raise InvalidRequest("'url' must be an http or https URL.", param="url")
    if not event_types:
        raise InvalidRequest("'event_types' must name at least one event.", param="event_types")
    for index, event_type in enumerate(event_types):
        if event_type not in EVENT_TYPES:
            raise _unsupported_event(event_type, f"event_types[{index}]")


def _unsupported_event(event_type: str, param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Event type '{event_type}' is not sent by this server; it sends "
        + ", ".join(f"'{e}'" for e in EVENT_TYPES)
        + ".",
        param=param,
    )


def _not_found(endpoint_id: str) -> NotFound:
    return NotFound(
        f"Webhook endpoint with id '{endpoint_id}' not found.", param="webhook_endpoint_id"
    )
