"""The change feed of the SQL store (storage/changes.py), read from the `changes` table that
migration 0007's triggers keep.

On SQLite writers take turns, so `seq` is commit order and `txid` is 0. On PostgreSQL a
transaction can take a `seq` and commit after one that took a later number; a reader that
resumed after the later one would skip it. Entries therefore carry the id of the transaction
that wrote them, are read in (txid, seq) order, and only from transactions older than the
oldest still running (the snapshot's xmin): those are final, and any entry committed later
belongs to a transaction at or past that horizon, hence past any position already returned.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import BigInteger, and_, delete, literal, literal_column, select, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from threadline.storage.base import Item, StoredResponse
from threadline.storage.changes import Change, ChangeKind, ChangePage, ChangePosition
from threadline.storage.encryption import ContentCodec
from threadline.storage.sql import queries as q
from threadline.storage.sql.completions import completion_record
from threadline.storage.sql.tables import changes, chat_completions, conversations, items, responses

_ITEM: ChangeKind = "conversation.item"


def _horizon(conn: Connection) -> ColumnElement[int]:
    if conn.dialect.name == "postgresql":
        return literal_column("pg_snapshot_xmin(pg_current_snapshot())::text::bigint", BigInteger)
    return literal(1)


def read_changes(
    conn: Connection,
    codec: ContentCodec,
    tenant: str,
    after: ChangePosition,
    since: float | None,
    limit: int,
) -> ChangePage:
    c = changes.c
    placed = and_(
        c.kind == _ITEM,
        items.c.conversation_id == c.conversation_id,
        items.c.conversation_position == c.position,
    )
    stmt = (
        select(
            c.kind,
            c.key,
            c.txid,
            c.seq,
            c.deleted,
            c.changed_at,
            c.conversation_id,
            c.position,
            items.c.data,
        )
        .select_from(changes.outerjoin(items, placed))
        .where(
            c.tenant == tenant,
            tuple_(c.txid, c.seq) > tuple_(literal(after.txid), literal(after.seq)),
            c.txid < _horizon(conn),
        )
        .order_by(c.txid, c.seq)
        .limit(limit)
    )
    if since is not None:
        stmt = stmt.where(c.changed_at >= since)
    found = [
        Change(
            kind=cast(ChangeKind, row.kind),
            key=row.key,
            position=ChangePosition(row.txid, row.seq),
            deleted=bool(row.deleted),
            changed_at=row.changed_at,
            conversation_id=row.conversation_id,
            conversation_position=row.position,
            item=None if row.deleted or row.data is None else codec.load(row.data),
        )
        for row in conn.execute(stmt)
    ]
    _attach_objects(conn, codec, tenant, found)
    return ChangePage(found, found[-1].position if found else after)


def _attach_objects(
    conn: Connection, codec: ContentCodec, tenant: str, found: list[Change]
) -> None:
    """Each live entry's object, a query per kind (and one for the responses' items)."""
    live: dict[str, dict[str, Change]] = {}
    for change in found:
        if not change.deleted:
            live.setdefault(change.kind, {})[change.key] = change
    if wanted := live.get("response"):
        _attach_responses(conn, codec, tenant, wanted)
    if wanted := live.get("conversation"):
        rows = conn.execute(
            select(conversations).where(
                conversations.c.tenant == tenant, conversations.c.id.in_(list(wanted))
            )
        )
        for row in rows:
            wanted[row.id].conversation = q.conversation_record(row)
    if wanted := live.get("chat.completion"):
        rows = conn.execute(
            select(chat_completions).where(
                chat_completions.c.tenant == tenant, chat_completions.c.id.in_(list(wanted))
            )
        )
        for row in rows:
            wanted[row.id].completion = completion_record(row, codec)


def _attach_responses(
    conn: Connection, codec: ContentCodec, tenant: str, wanted: dict[str, Change]
) -> None:
    rows = conn.execute(
        select(responses).where(responses.c.tenant == tenant, responses.c.id.in_(list(wanted)))
    )
    records = {row.id: q.response_record(row, codec) for row in rows}
    inputs: dict[str, list[Item]] = {key: [] for key in records}
    outputs: dict[str, list[Item]] = {key: [] for key in records}
    owned = conn.execute(
        select(items.c.response_id, items.c.kind, items.c.data)
        .where(items.c.response_id.in_(list(records)))
        .order_by(items.c.response_id, items.c.position)
    )
    for row in owned:
        kept = inputs if row.kind == "input" else outputs
        kept[row.response_id].append(codec.load(row.data))
    for key, record in records.items():
        change = wanted[key]
        change.response = StoredResponse(record=record, output=outputs[key])
        change.input_items = inputs[key]


def forget_tombstones(conn: Connection, before: float) -> int:
    c = changes.c
    return conn.execute(delete(changes).where(c.deleted, c.changed_at < before)).rowcount
