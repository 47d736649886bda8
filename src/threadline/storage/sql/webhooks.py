"""The webhook half of the SQL store: endpoints, the outbox and the delivery log, each
operation a function of a sync `Connection` run in one call (a write in one transaction).

Deliveries are taken as jobs are (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so each attempt is
made by one process; a taken delivery is leased, and one whose sender died is due again once
its lease lapses."""

from __future__ import annotations

from typing import Any, cast

import orjson
from sqlalchemy import Select, String, and_, bindparam, delete, or_, select, update
from sqlalchemy.engine import Connection, Row

from threadline.storage.outbox import deliveries_for
from threadline.storage.sql.tables import webhook_deliveries as deliveries
from threadline.storage.sql.tables import webhook_endpoints as endpoints
from threadline.storage.webhook_records import DueDelivery, WebhookDelivery, WebhookEndpointRecord


def endpoint_values(endpoint: WebhookEndpointRecord) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "tenant": endpoint.tenant,
        "name": endpoint.name,
        "url": endpoint.url,
        "event_types": orjson.dumps(endpoint.event_types).decode(),
        "secret": endpoint.secret,
        "secret_hint": endpoint.secret_hint,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }


def _endpoint(row: Row[Any]) -> WebhookEndpointRecord:
    m = row._mapping
    return WebhookEndpointRecord(
        id=m["id"],
        tenant=m["tenant"],
        name=m["name"],
        url=m["url"],
        event_types=orjson.loads(m["event_types"]),
        secret=m["secret"],
        secret_hint=m["secret_hint"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _delivery(row: Row[Any]) -> WebhookDelivery:
    m = row._mapping
    return WebhookDelivery(
        id=m["id"],
        event_id=m["event_id"],
        endpoint_id=m["endpoint_id"],
        tenant=m["tenant"],
        event_type=m["event_type"],
        payload=m["payload"],
        created_at=m["created_at"],
        status=cast(Any, m["status"]),
        attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"],
        last_status_code=m["last_status_code"],
        last_error=m["last_error"],
        delivered_at=m["delivered_at"],
    )


def _delivery_values(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "endpoint_id": delivery.endpoint_id,
        "tenant": delivery.tenant,
        "event_type": delivery.event_type,
        "payload": delivery.payload,
        "created_at": delivery.created_at,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "owner": None,
        "lease_until": None,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": delivery.delivered_at,
    }


_TENANT_ENDPOINTS = select(endpoints).where(endpoints.c.tenant == bindparam("tenant", type_=String))
"""Built once: every background job's end runs it (a statement built per call costs the
writer thread its construction and cache key each time)."""


def write_outbox(conn: Connection, tenant: str, response_id: str, status: str) -> None:
    """Queue the deliveries of "`response_id` ended `status`" (in the caller's transaction)."""
    mine = conn.execute(_TENANT_ENDPOINTS, {"tenant": tenant}).all()
    rows = deliveries_for([_endpoint(row) for row in mine], response_id, status)
    if rows:
        conn.execute(deliveries.insert(), [_delivery_values(row) for row in rows])


def create_endpoint(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(endpoints.insert(), values)


def get_endpoint(conn: Connection, tenant: str, endpoint_id: str) -> WebhookEndpointRecord | None:
    row = conn.execute(
        select(endpoints).where(endpoints.c.id == endpoint_id, endpoints.c.tenant == tenant)
    ).first()
    return None if row is None else _endpoint(row)


def list_endpoints(conn: Connection, tenant: str | None) -> list[WebhookEndpointRecord]:
    stmt = select(endpoints).order_by(endpoints.c.created_at, endpoints.c.id)
    if tenant is not None:
        stmt = stmt.where(endpoints.c.tenant == tenant)
    return [_endpoint(row) for row in conn.execute(stmt).all()]


def update_endpoint(conn: Connection, values: dict[str, Any]) -> bool:
    changed = conn.execute(
        update(endpoints)
        .where(endpoints.c.id == values["id"], endpoints.c.tenant == values["tenant"])
        .values({k: v for k, v in values.items() if k not in ("id", "tenant", "created_at")})
    )
    return changed.rowcount == 1


def delete_endpoint(conn: Connection, tenant: str, endpoint_id: str) -> bool:
    mine = select(endpoints.c.id).where(endpoints.c.id == endpoint_id, endpoints.c.tenant == tenant)
    conn.execute(delete(deliveries).where(deliveries.c.endpoint_id.in_(mine)))
    gone = conn.execute(
        delete(endpoints).where(endpoints.c.id == endpoint_id, endpoints.c.tenant == tenant)
    )
    return gone.rowcount == 1


def _due(now: float) -> Select[tuple[str]]:
    return select(deliveries.c.id).where(
        deliveries.c.status == "pending",
        deliveries.c.next_attempt_at <= now,
        or_(deliveries.c.owner.is_(None), deliveries.c.lease_until < now),
    )


def any_due(conn: Connection, now: float) -> bool:
    """Whether a delivery is due (a read, so that a look at an empty outbox takes no write
    transaction: every process looks at each poll and each background turn's end)."""
    return conn.scalar(_due(now).limit(1)) is not None


def take_deliveries(
    conn: Connection, owner: str, now: float, lease_until: float, limit: int
) -> list[DueDelivery]:
    due = (
        _due(now)
        .order_by(deliveries.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    taken = list(conn.scalars(due).all())
    if not taken:
        return []
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(taken))
        .values(owner=owner, lease_until=lease_until)
    )
    rows = conn.execute(
        select(deliveries, endpoints.c.url, endpoints.c.secret)
        .join(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
        .where(deliveries.c.id.in_(taken))
        .order_by(deliveries.c.next_attempt_at)
    ).all()
    return [DueDelivery(_delivery(row), row.url, row.secret) for row in rows]


def record_attempt(conn: Connection, delivery: WebhookDelivery) -> None:
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery.id)
        .values(
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            delivered_at=delivery.delivered_at,
            owner=None,
            lease_until=None,
        )
    )


def list_deliveries(conn: Connection, tenant: str | None, limit: int) -> list[WebhookDelivery]:
    stmt = (
        select(deliveries)
        .order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc())
        .limit(limit)
    )
    if tenant is not None:
        stmt = stmt.where(deliveries.c.tenant == tenant)
    return [_delivery(row) for row in conn.execute(stmt).all()]


def redeliver(conn: Connection, tenant: str | None, delivery_id: str, now: float) -> bool:
    which = deliveries.c.id == delivery_id
    if tenant is not None:
        which = and_(which, deliveries.c.tenant == tenant)
    again = conn.execute(
        update(deliveries)
        .where(which)
        .values(status="pending", next_attempt_at=now, owner=None, lease_until=None)
    )
    return again.rowcount == 1
