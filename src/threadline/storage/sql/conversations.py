"""The conversation half of the SQL store: each operation's body, as a function of a sync
`Connection` that databases.py runs in one call (a write in one transaction).

A conversation row carries `next_position`, the counter that hands out item positions; items are
never renumbered, so a deleted item leaves a gap and a page cursor stays valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from threadline.errors import Conflict, InvalidRequest
from threadline.storage.base import (
    ConversationClaim,
    ConversationFilter,
    ConversationPage,
    ConversationRecord,
    Item,
    ItemPage,
    Order,
)
from threadline.storage.encoding import dumps
from threadline.storage.encryption import ContentCodec
from threadline.storage.sql import jobs
from threadline.storage.sql import queries as q
from threadline.storage.sql.items import claim_positions, item_page, place_in_conversation
from threadline.storage.sql.tables import conversations, responses
from threadline.storage.sql.tables import items as item_table


def conversation_values(conversation: ConversationRecord, next_position: int) -> dict[str, Any]:
    c = conversation
    return {
        "id": c.id,
        "tenant": c.tenant,
        "created_at": c.created_at,
        "metadata": dumps(c.metadata),
        "status": c.status,
        "last_active_at": c.last_active_at,
        "status_changed_at": c.status_changed_at,
        "next_position": next_position,
    }


def create_conversation(
    conn: Connection, values: dict[str, Any], item_rows: list[dict[str, Any]]
) -> None:
    try:
        conn.execute(insert(conversations).values(values))
    except IntegrityError as exc:
        raise Conflict(f"A conversation with id '{values['id']}' already exists") from exc
    if item_rows:
        q.INSERT_ITEMS.run(conn, item_rows)


def get_conversation(
    conn: Connection, tenant: str, conversation_id: str
) -> ConversationRecord | None:
    stmt = select(conversations).where(
        conversations.c.id == conversation_id, conversations.c.tenant == tenant
    )
    row = conn.execute(stmt).first()
    return None if row is None else q.conversation_record(row)


def update_conversation(
    conn: Connection, tenant: str, conversation_id: str, values: dict[str, Any]
) -> ConversationRecord | None:
    stmt = (
        update(conversations)
        .where(conversations.c.id == conversation_id, conversations.c.tenant == tenant)
        .values(values)
        .returning(*conversations.c)
    )
    row = conn.execute(stmt).first()
    return None if row is None else q.conversation_record(row)


def delete_conversation(conn: Connection, tenant: str, conversation_id: str) -> bool:
    mine = and_(conversations.c.id == conversation_id, conversations.c.tenant == tenant)
    turns = and_(responses.c.conversation_id == conversation_id, responses.c.tenant == tenant)
    # Locked first (PostgreSQL) so no turn appends between deleting items and the row.
    if conn.scalar(select(conversations.c.id).where(mine).with_for_update()) is None:
        return False
    conn.execute(delete(item_table).where(item_table.c.conversation_id == conversation_id))
    jobs.forget(conn, select(responses.c.id).where(turns))
    conn.execute(
        delete(item_table).where(item_table.c.response_id.in_(select(responses.c.id).where(turns)))
    )
    conn.execute(delete(responses).where(turns))
    conn.execute(delete(conversations).where(mine))
    conn.execute(q.BUMP_HISTORY_GENERATION)
    return True


def list_conversations(
    conn: Connection, tenant: str, flt: ConversationFilter, *, after: str | None, limit: int
) -> ConversationPage:
    c = conversations.c
    stmt = select(conversations).where(c.tenant == tenant)
    for key, value in flt.metadata.items():
        stmt = stmt.where(q.metadata_matches(conn.dialect.name, key, value))
    if flt.status is not None:
        stmt = stmt.where(c.status == flt.status)
    for column, low, high in (
        (c.created_at, flt.created_after, flt.created_before),
        (c.last_active_at, flt.active_after, flt.active_before),
    ):
        if low is not None:
            stmt = stmt.where(column > low)
        if high is not None:
            stmt = stmt.where(column < high)
    if after is not None:
        anchor_stmt = select(c.last_active_at, c.id).where(c.id == after, c.tenant == tenant)
        anchor = conn.execute(anchor_stmt).first()
        if anchor is None:
            raise InvalidRequest(f"No conversation with id '{after}' in this list", param="after")
        at, anchor_id = anchor
        stmt = stmt.where(
            or_(c.last_active_at < at, and_(c.last_active_at == at, c.id < anchor_id))
        )
    stmt = stmt.order_by(c.last_active_at.desc(), c.id.desc()).limit(limit + 1)
    rows = conn.execute(stmt).all()
    return ConversationPage(
        conversations=[q.conversation_record(row) for row in rows[:limit]],
        has_more=len(rows) > limit,
    )


def append_items(
    conn: Connection,
    tenant: str,
    conversation_id: str,
    item_rows: list[dict[str, Any]],
    now: float,
) -> bool:
    start = claim_positions(conn, tenant, conversation_id, len(item_rows), now)
    if start is None:
        return False
    place_in_conversation(item_rows, conversation_id, start)
    if item_rows:
        q.INSERT_ITEMS.run(conn, item_rows)
    return True


def claim_conversation(
    conn: Connection, tenant: str, conversation_id: str, owner: str, now: float, lease_until: float
) -> ConversationClaim:
    claimed = conn.execute(
        q.CLAIM_TURN,
        {
            "claim_tenant": tenant,
            "claim_conversation_id": conversation_id,
            "claim_owner": owner,
            "now": now,
            "lease_until": lease_until,
        },
    )
    if claimed.rowcount == 1:
        return "claimed"
    found = conn.scalar(
        q.CONVERSATION_EXISTS, {"tenant": tenant, "conversation_id": conversation_id}
    )
    return "missing" if found is None else "locked"


def renew_conversation_claim(
    conn: Connection, tenant: str, conversation_id: str, owner: str, lease_until: float
) -> bool:
    renewed = conn.execute(
        q.RENEW_CLAIM,
        {
            "claim_tenant": tenant,
            "claim_conversation_id": conversation_id,
            "claim_owner": owner,
            "lease_until": lease_until,
        },
    )
    return bool(renewed.rowcount == 1)


def release_conversation(conn: Connection, tenant: str, conversation_id: str, owner: str) -> None:
    conn.execute(
        q.RELEASE_CLAIM,
        {"claim_tenant": tenant, "claim_conversation_id": conversation_id, "claim_owner": owner},
    )


def load_conversation(
    conn: Connection, codec: ContentCodec, tenant: str, conversation_id: str
) -> tuple[ConversationRecord, list[Item]] | None:
    loaded = _conversation_texts(conn, tenant, conversation_id)
    if loaded is None:
        return None
    record, texts = loaded
    return record, [codec.load(text) for text in texts]


def _conversation_texts(
    conn: Connection, tenant: str, conversation_id: str
) -> tuple[ConversationRecord, list[str]] | None:
    """The conversation and the stored JSON of its items, in order."""
    params = {"tenant": tenant, "conversation_id": conversation_id}
    rows = conn.execute(q.CONVERSATION_WITH_ITEMS, params).all()
    if not rows:
        return None
    return q.conversation_record(rows[0]), [r.item_data for r in rows if r.item_data is not None]


@dataclass(slots=True)
class ConversationState:
    record: ConversationRecord
    next_position: int
    generation: int | None
    """None if the `store_state` row is missing: then nothing may be cached."""
    items: list[Item] | None
    """None when the caller's cached copy is still current."""
    size: int = 0
    """JSON bytes of `items`."""


def load_conversation_unless_cached(
    conn: Connection,
    codec: ContentCodec,
    tenant: str,
    conversation_id: str,
    cached: tuple[int, int] | None,
) -> ConversationState | None:
    """The conversation row, and its items unless `cached` (generation, next_position) says
    the caller's copy is current: no item deleted anywhere since (generation), none appended
    to this conversation (next_position). With a copy, the row and the generation are read
    first (all a hit costs, however long the conversation); without one, or with a stale one,
    the row, the generation and the items in one statement, from one snapshot."""
    params = {"tenant": tenant, "conversation_id": conversation_id}
    if cached is not None:
        row = conn.execute(q.CONVERSATION_STATE, params).one_or_none()
        if row is None:
            return None
        generation = None if row.history_generation is None else int(row.history_generation)
        next_position = int(row.next_position)
        if generation is not None and cached == (generation, next_position):
            return ConversationState(q.conversation_record(row), next_position, generation, None)
    rows = conn.execute(q.CONVERSATION_WITH_ITEMS_AND_GENERATION, params).all()
    if not rows:
        return None
    first = rows[0]
    generation = None if first.history_generation is None else int(first.history_generation)
    texts = [row.item_data for row in rows if row.item_data is not None]
    return ConversationState(
        q.conversation_record(first),
        int(first.next_position),
        generation,
        [codec.load(text) for text in texts],
        sum(len(text) for text in texts),
    )


def list_conversation_items(
    conn: Connection,
    codec: ContentCodec,
    tenant: str,
    conversation_id: str,
    *,
    after: str | None,
    limit: int,
    order: Order,
) -> ItemPage | None:
    owner = select(conversations.c.id).where(
        conversations.c.id == conversation_id, conversations.c.tenant == tenant
    )
    members = item_table.c.conversation_id == conversation_id
    key = item_table.c.conversation_position
    return item_page(conn, codec, owner, members, key, after=after, limit=limit, order=order)


def get_conversation_item(
    conn: Connection, codec: ContentCodec, tenant: str, conversation_id: str, item_id: str
) -> Item | None:
    stmt = (
        select(item_table.c.data)
        .where(
            item_table.c.conversation_id == conversation_id,
            item_table.c.tenant == tenant,
            item_table.c.item_id == item_id,
        )
        .order_by(item_table.c.conversation_position)
        .limit(1)
    )
    data = conn.scalar(stmt)
    return None if data is None else codec.load(data)


def delete_conversation_item(
    conn: Connection, tenant: str, conversation_id: str, item_id: str
) -> bool:
    # An item a turn owns leaves the conversation but stays in its response's record, as
    # deleting a response keeps its conversation items.
    where = (
        item_table.c.conversation_id == conversation_id,
        item_table.c.tenant == tenant,
        item_table.c.item_id == item_id,
    )
    deleted = conn.execute(delete(item_table).where(*where, item_table.c.response_id.is_(None)))
    detached = conn.execute(
        update(item_table).where(*where).values(conversation_id=None, conversation_position=None)
    )
    if deleted.rowcount + detached.rowcount == 0:
        return False
    conn.execute(q.BUMP_HISTORY_GENERATION)
    return True


def expire_idle_conversations(conn: Connection, idle_before: float, now: float) -> int:
    c = conversations.c
    stmt = (
        update(conversations)
        .where(c.status == "active", c.last_active_at < idle_before)
        .values(status="expired", status_changed_at=now)
    )
    return conn.execute(stmt).rowcount
