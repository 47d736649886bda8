"""Listing responses in the SQL stores (storage/response_listing.py): newest first by
`created_at` (its index is walked backwards), keyset-paged from the `after` response."""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Connection

from threadline.storage.encryption import ContentCodec
from threadline.storage.response_listing import ResponseFilter, ResponsePage
from threadline.storage.sql import queries as q
from threadline.storage.sql.tables import responses


def list_responses(
    conn: Connection,
    codec: ContentCodec,
    tenant: str,
    flt: ResponseFilter,
    after: str | None,
    limit: int,
) -> ResponsePage:
    stmt = select(responses).where(responses.c.tenant == tenant)
    if flt.status is not None:
        stmt = stmt.where(responses.c.status == flt.status)
    if flt.model is not None:
        stmt = stmt.where(responses.c.model == flt.model)
    if after is not None:
        last = conn.execute(
            select(responses.c.created_at).where(
                responses.c.id == after, responses.c.tenant == tenant
            )
        ).scalar_one_or_none()
        if last is None:
            return ResponsePage([], False)
        stmt = stmt.where(
            or_(
                responses.c.created_at < last,
                and_(responses.c.created_at == last, responses.c.id < after),
            )
        )
    order = (responses.c.created_at.desc(), responses.c.id.desc())
    rows = conn.execute(stmt.order_by(*order).limit(limit + 1)).all()
    return ResponsePage([q.response_record(row, codec) for row in rows[:limit]], len(rows) > limit)
