"""Item rows: how they are built, placed at the end of a conversation, paged and released.

Shared by the response and conversation operations, because a turn's items are both. Like every
operation body of the SQL store, the functions that touch the database take a sync
`Connection` (databases.py runs them).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, null, select, update
from sqlalchemy.engine import Connection

from threadline.errors import InvalidRequest
from threadline.storage.base import Item, ItemPage, Order
from threadline.storage.encryption import ContentCodec
from threadline.storage.sql.queries import CLAIM_POSITIONS
from threadline.storage.sql.tables import items as item_table


def item_row(
    codec: ContentCodec,
    tenant: str,
    created_at: float,
    item: Item,
    *,
    response_id: str | None = None,
    kind: str | None = None,
    position: int | None = None,
    conversation_id: str | None = None,
    conversation_position: int | None = None,
) -> dict[str, Any]:
    """Insert parameters for one item; every row of a batch has the same keys."""
    return {
        "tenant": tenant,
        "item_id": item["id"],
        "response_id": response_id,
        "kind": kind,
        "position": position,
        "conversation_id": conversation_id,
        "conversation_position": conversation_position,
        "created_at": created_at,
        "data": codec.dump(item),
    }


def claim_positions(
    conn: Connection,
    tenant: str,
    conversation_id: str,
    count: int,
    active_at: float,
    owner: str | None = None,
) -> int | None:
    """Reserve `count` positions at the end of the conversation, mark it active and release the
    turn claim of `owner`; the first position, or None if the conversation does not exist for
    this tenant.

    The UPDATE holds the conversation row (PostgreSQL) or the database (SQLite) until the
    caller's transaction commits, so concurrent appenders get consecutive, disjoint ranges.
    """
    params = {
        "claim_tenant": tenant,
        "claim_conversation_id": conversation_id,
        "count": count,
        "active_at": active_at,
        "claim_owner": owner,
    }
    end = conn.scalar(CLAIM_POSITIONS, params)
    return None if end is None else int(end) - count


def place_in_conversation(rows: list[dict[str, Any]], conversation_id: str, start: int) -> None:
    for offset, row in enumerate(rows):
        row["conversation_id"] = conversation_id
        row["conversation_position"] = start + offset


def release_items(conn: Connection, *owned_by: ColumnElement[bool]) -> None:
    """Before responses are deleted: drop the items they own outside any conversation, and
    keep the conversation's ones as conversation-only items."""
    conn.execute(delete(item_table).where(*owned_by, item_table.c.conversation_id.is_(None)))
    conn.execute(
        update(item_table).where(*owned_by).values(response_id=None, kind=None, position=None)
    )


def item_page(
    conn: Connection,
    codec: ContentCodec,
    owner: Select[Any],
    members: ColumnElement[bool],
    key: Any,
    *,
    after: str | None,
    limit: int,
    order: Order,
) -> ItemPage | None:
    """A page of the items matching `members`, ordered by `key`, starting after the item
    `after`; None if `owner` (a select of the response or conversation row) finds nothing."""
    cursor_key = (
        null()
        if after is None
        else select(func.min(key)).where(members, item_table.c.item_id == after).scalar_subquery()
    )
    found = conn.execute(owner.add_columns(cursor_key)).first()
    if found is None:
        return None
    cursor = found[-1]
    if after is not None and cursor is None:
        raise InvalidRequest(f"No item with id '{after}' in this list", param="after")
    stmt = select(item_table.c.data).where(members)
    if order == "asc":
        stmt = stmt.order_by(key.asc())
        if cursor is not None:
            stmt = stmt.where(key > cursor)
    else:
        stmt = stmt.order_by(key.desc())
        if cursor is not None:
            stmt = stmt.where(key < cursor)
    data = conn.scalars(stmt.limit(limit + 1)).all()
    return ItemPage(items=[codec.load(d) for d in data[:limit]], has_more=len(data) > limit)
