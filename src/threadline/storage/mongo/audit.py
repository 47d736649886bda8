"""The audit trail of the MongoDB store (storage/audit.py): `audit_events`, `_id` the event id."""

from __future__ import annotations

import dataclasses

from threadline.errors import InvalidRequest
from threadline.storage.audit import AuditEvent, AuditPage, AuditQuery, AuditTrail
from threadline.storage.mongo.connection import MongoConnection
from threadline.storage.mongo.documents import Document
from threadline.storage.mongo.schema import AUDIT_EVENTS


class AuditMethods(MongoConnection, AuditTrail):
    async def record_audit(self, event: AuditEvent) -> None:
        document = dataclasses.asdict(event)
        document["_id"] = document.pop("id")
        await self._db[AUDIT_EVENTS].insert_one(document)

    async def list_audit(self, query: AuditQuery) -> AuditPage:
        match: Document = {}
        if query.tenant is not None:
            match["tenant"] = query.tenant
        if query.since is not None:
            match["at"] = {"$gte": query.since}
        if query.actions:
            match["action"] = {"$in": list(query.actions)}
        if query.after is not None:
            last = await self._db[AUDIT_EVENTS].find_one(
                {"_id": query.after, **({"tenant": query.tenant} if query.tenant else {})}
            )
            if last is None:
                raise InvalidRequest(f"'after' names no event: '{query.after}'.", param="after")
            match["$or"] = [
                {"at": {"$lt": last["at"]}},
                {"at": last["at"], "_id": {"$lt": last["_id"]}},
            ]
        cursor = self._db[AUDIT_EVENTS].find(match, sort=[("at", -1), ("_id", -1)])
        found = await cursor.limit(query.limit + 1).to_list()
        events = [_event(d) for d in found[: query.limit]]
        return AuditPage(events, has_more=len(found) > query.limit)


def _event(document: Document) -> AuditEvent:
    return AuditEvent(
        id=document["_id"],
        at=document["at"],
        tenant=document.get("tenant"),
        actor=document["actor"],
        action=document["action"],
        object_id=document.get("object_id"),
        details=document.get("details") or {},
    )
