"""The stored chat completions of the SQL store, each operation a function of a sync
`Connection` run in one call."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from threadline.errors import Conflict, InvalidRequest
from threadline.storage.base import (
    CompletionFilter,
    CompletionPage,
    Order,
    StoredCompletion,
    TenantScope,
)
from threadline.storage.encoding import dumps
from threadline.storage.encryption import ContentCodec
from threadline.storage.sql import queries as q
from threadline.storage.sql.tables import chat_completions as completions


def completion_values(completion: StoredCompletion, codec: ContentCodec) -> dict[str, Any]:
    """The row of a completion, built (and sealed) before the write is queued."""
    return {
        "id": completion.id,
        "tenant": completion.tenant,
        "created_at": completion.created_at,
        "model": completion.model,
        "metadata": dumps(completion.metadata),
        "completion": codec.dump(completion.completion),
        "messages": codec.dump(completion.messages),
    }


def save_completion(conn: Connection, values: dict[str, Any]) -> None:
    try:
        conn.execute(insert(completions).values(values))
    except IntegrityError as exc:
        raise Conflict(f"A chat completion with id '{values['id']}' already exists") from exc


def get_completion(
    conn: Connection, codec: ContentCodec, tenant: str, completion_id: str
) -> StoredCompletion | None:
    c = completions.c
    row = conn.execute(select(completions).where(c.id == completion_id, c.tenant == tenant)).first()
    return None if row is None else completion_record(row, codec)


def list_completions(
    conn: Connection,
    codec: ContentCodec,
    tenant: str,
    flt: CompletionFilter,
    *,
    after: str | None,
    limit: int,
    order: Order,
) -> CompletionPage:
    c = completions.c
    stmt = select(completions).where(c.tenant == tenant)
    if flt.model is not None:
        stmt = stmt.where(c.model == flt.model)
    for key, value in flt.metadata.items():
        stmt = stmt.where(q.metadata_matches(conn.dialect.name, key, value, c.metadata))
    if after is not None:
        anchor = conn.execute(
            select(c.created_at, c.id).where(c.id == after, c.tenant == tenant)
        ).first()
        if anchor is None:
            raise InvalidRequest(
                f"No chat completion with id '{after}' in this list", param="after"
            )
        at, anchor_id = anchor
        if order == "desc":
            stmt = stmt.where(or_(c.created_at < at, and_(c.created_at == at, c.id < anchor_id)))
        else:
            stmt = stmt.where(or_(c.created_at > at, and_(c.created_at == at, c.id > anchor_id)))
    if order == "desc":
        stmt = stmt.order_by(c.created_at.desc(), c.id.desc())
    else:
        stmt = stmt.order_by(c.created_at, c.id)
    rows = conn.execute(stmt.limit(limit + 1)).all()
    return CompletionPage(
        completions=[completion_record(row, codec) for row in rows[:limit]],
        has_more=len(rows) > limit,
    )


def update_metadata(
    conn: Connection, codec: ContentCodec, tenant: str, completion_id: str, metadata: dict[str, str]
) -> StoredCompletion | None:
    c = completions.c
    changed = conn.execute(
        update(completions)
        .where(c.id == completion_id, c.tenant == tenant)
        .values(metadata=dumps(metadata))
    )
    if changed.rowcount == 0:
        return None
    return get_completion(conn, codec, tenant, completion_id)


def delete_completion(conn: Connection, tenant: str, completion_id: str) -> bool:
    c = completions.c
    deleted = conn.execute(delete(completions).where(c.id == completion_id, c.tenant == tenant))
    return deleted.rowcount > 0


def delete_completions_batch(
    conn: Connection, cutoff: float, scope: TenantScope, batch: int
) -> int | None:
    """Delete up to `batch` completions created before `cutoff` (of the tenants in `scope`);
    how many, or None if none was left to delete."""
    c = completions.c
    old = select(c.id).where(c.created_at < cutoff, q.tenants_in(c.tenant, scope)).limit(batch)
    ids = list(conn.scalars(old).all())
    if not ids:
        return None
    return conn.execute(delete(completions).where(c.id.in_(ids))).rowcount


def completion_record(row: Row[Any], codec: ContentCodec) -> StoredCompletion:
    m = row._mapping
    return StoredCompletion(
        id=m["id"],
        tenant=m["tenant"],
        created_at=m["created_at"],
        model=m["model"],
        metadata=orjson.loads(m["metadata"]),
        completion=codec.load(m["completion"]),
        messages=codec.load(m["messages"]),
    )
