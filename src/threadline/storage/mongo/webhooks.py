"""The webhook half of the MongoDB store: `webhook_endpoints` (`_id` is the endpoint id) and
`webhook_deliveries` (`_id` is the delivery id), the outbox and the delivery log.

A delivery is taken with `find_one_and_update` on its document where it is due and not leased
to a live sender, so each attempt is made by one process."""

from __future__ import annotations

from typing import Any, cast

from pymongo import ReturnDocument

from threadline.storage.mongo.connection import MongoConnection, Session
from threadline.storage.mongo.documents import Document
from threadline.storage.outbox import deliveries_for
from threadline.storage.webhook_records import DueDelivery, WebhookDelivery, WebhookEndpointRecord

_DELIVERY_FIELDS = (
    "event_id",
    "endpoint_id",
    "tenant",
    "event_type",
    "payload",
    "created_at",
    "status",
    "attempts",
    "next_attempt_at",
    "last_status_code",
    "last_error",
    "delivered_at",
)


def _endpoint_document(endpoint: WebhookEndpointRecord) -> Document:
    return {
        "_id": endpoint.id,
        "tenant": endpoint.tenant,
        "name": endpoint.name,
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "secret": endpoint.secret,
        "secret_hint": endpoint.secret_hint,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }


def _endpoint(document: Document) -> WebhookEndpointRecord:
    return WebhookEndpointRecord(
        id=document["_id"],
        tenant=document["tenant"],
        name=document["name"],
        url=document["url"],
        event_types=list(document["event_types"]),
        secret=document["secret"],
        secret_hint=document["secret_hint"],
        created_at=document["created_at"],
        updated_at=document["updated_at"],
    )


def _delivery_document(delivery: WebhookDelivery) -> Document:
    document: Document = {"_id": delivery.id, "owner": None, "lease_until": None}
    document.update({name: getattr(delivery, name) for name in _DELIVERY_FIELDS})
    return document


def _delivery(document: Document) -> WebhookDelivery:
    fields: dict[str, Any] = {name: document.get(name) for name in _DELIVERY_FIELDS}
    return WebhookDelivery(id=document["_id"], **cast(Any, fields))


class WebhookMethods(MongoConnection):
    async def write_outbox(
        self, session: Session, tenant: str, response_id: str, status: str
    ) -> None:
        """Queue the deliveries of "`response_id` ended `status`" (in `session`'s
        transaction)."""
        found = await self._endpoints.find({"tenant": tenant}, session=session).to_list()
        rows = deliveries_for([_endpoint(d) for d in found], response_id, status)
        if rows:
            await self._deliveries.insert_many(
                [_delivery_document(row) for row in rows], session=session
            )

    async def create_webhook_endpoint(self, endpoint: WebhookEndpointRecord) -> None:
        await self._endpoints.insert_one(_endpoint_document(endpoint))

    async def get_webhook_endpoint(
        self, tenant: str, endpoint_id: str
    ) -> WebhookEndpointRecord | None:
        found = await self._endpoints.find_one({"_id": endpoint_id, "tenant": tenant})
        return None if found is None else _endpoint(found)

    async def list_webhook_endpoints(self, tenant: str | None) -> list[WebhookEndpointRecord]:
        query: Document = {} if tenant is None else {"tenant": tenant}
        found = self._endpoints.find(query, sort=[("created_at", 1), ("_id", 1)])
        return [_endpoint(d) for d in await found.to_list()]

    async def update_webhook_endpoint(self, endpoint: WebhookEndpointRecord) -> bool:
        changes = _endpoint_document(endpoint)
        for fixed in ("_id", "tenant", "created_at"):
            changes.pop(fixed)
        updated = await self._endpoints.update_one(
            {"_id": endpoint.id, "tenant": endpoint.tenant}, {"$set": changes}
        )
        return bool(updated.matched_count)

    async def delete_webhook_endpoint(self, tenant: str, endpoint_id: str) -> bool:
        async def work(session: Session) -> bool:
            gone = await self._endpoints.delete_one(
                {"_id": endpoint_id, "tenant": tenant}, session=session
            )
            if not gone.deleted_count:
                return False
            await self._deliveries.delete_many({"endpoint_id": endpoint_id}, session=session)
            return True

        return await self.transaction(work)

    async def take_webhook_deliveries(
        self, owner: str, *, now: float, lease_until: float, limit: int
    ) -> list[DueDelivery]:
        due: Document = {
            "status": "pending",
            "next_attempt_at": {"$lte": now},
            "$or": [{"owner": None}, {"lease_until": {"$lt": now}}],
        }
        taken: list[DueDelivery] = []
        candidates = self._deliveries.find(due, sort=[("next_attempt_at", 1)])
        for candidate in await candidates.limit(limit).to_list():
            document = await self._deliveries.find_one_and_update(
                {"_id": candidate["_id"], **due},
                {"$set": {"owner": owner, "lease_until": lease_until}},
                return_document=ReturnDocument.AFTER,
            )
            if document is None:
                continue  # another process took it first
            endpoint = await self._endpoints.find_one({"_id": document["endpoint_id"]})
            if endpoint is not None:
                taken.append(DueDelivery(_delivery(document), endpoint["url"], endpoint["secret"]))
        return taken

    async def record_webhook_attempt(self, delivery: WebhookDelivery) -> None:
        changes = _delivery_document(delivery)
        changes.pop("_id")
        await self._deliveries.update_one({"_id": delivery.id}, {"$set": changes})

    async def list_webhook_deliveries(
        self, tenant: str | None, *, limit: int
    ) -> list[WebhookDelivery]:
        query: Document = {} if tenant is None else {"tenant": tenant}
        found = self._deliveries.find(query, sort=[("created_at", -1), ("_id", -1)])
        return [_delivery(d) for d in await found.limit(limit).to_list()]

    async def redeliver_webhook(self, tenant: str | None, delivery_id: str, now: float) -> bool:
        query: Document = {"_id": delivery_id}
        if tenant is not None:
            query["tenant"] = tenant
        again = await self._deliveries.update_one(
            query,
            {
                "$set": {
                    "status": "pending",
                    "next_attempt_at": now,
                    "owner": None,
                    "lease_until": None,
                }
            },
        )
        return bool(again.matched_count)
