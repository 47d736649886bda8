"""The audit trail of the SQL store (storage/audit.py): `audit_events`."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Row, and_, insert, or_, select
from sqlalchemy.engine import Connection

from threadline.errors import InvalidRequest
from threadline.storage.audit import AuditEvent, AuditPage, AuditQuery, AuditTrail
from threadline.storage.sql.databases import Database
from threadline.storage.sql.tables import audit_events as events


def record_audit(conn: Connection, event: AuditEvent) -> None:
    conn.execute(
        insert(events).values(
            id=event.id,
            at=event.at,
            tenant=event.tenant,
            actor=event.actor,
            action=event.action,
            object_id=event.object_id,
            details=orjson.dumps(event.details).decode(),
        )
    )


def list_audit(conn: Connection, query: AuditQuery) -> AuditPage:
    c = events.c
    stmt = select(events)
    if query.tenant is not None:
        stmt = stmt.where(c.tenant == query.tenant)
    if query.since is not None:
        stmt = stmt.where(c.at >= query.since)
    if query.actions:
        stmt = stmt.where(c.action.in_(query.actions))
    if query.after is not None:
        cursor = select(c.at, c.id).where(c.id == query.after)
        if query.tenant is not None:
            cursor = cursor.where(c.tenant == query.tenant)
        last = conn.execute(cursor).first()
        if last is None:
            raise InvalidRequest(f"'after' names no event: '{query.after}'.", param="after")
        stmt = stmt.where(or_(c.at < last.at, and_(c.at == last.at, c.id < last.id)))
    rows = conn.execute(stmt.order_by(c.at.desc(), c.id.desc()).limit(query.limit + 1)).all()
    found = [_event(row) for row in rows[: query.limit]]
    return AuditPage(found, has_more=len(rows) > query.limit)


def _event(row: Row[Any]) -> AuditEvent:
    m = row._mapping
    return AuditEvent(
        id=m["id"],
        at=m["at"],
        tenant=m["tenant"],
        actor=m["actor"],
        action=m["action"],
        object_id=m["object_id"],
        details=orjson.loads(m["details"]),
    )


class SqlAuditTrail(AuditTrail):
    _db: Database

    async def record_audit(self, event: AuditEvent) -> None:
        await self._db.write(record_audit, event)

    async def list_audit(self, query: AuditQuery) -> AuditPage:
        return await self._db.read(list_audit, query)
