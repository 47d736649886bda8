"""The conversation half of SqlStore, kept apart so each module reads in one sitting.

A conversation row carries `next_position`, the counter that hands out item positions; items are
never renumbered, so a deleted item leaves a gap and a page cursor stays valid.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from threadline.errors import Conflict, InvalidRequest
from threadline.storage.base import (
    ConversationFilter,
    ConversationPage,
    ConversationRecord,
    ConversationStatus,
    Item,
    ItemPage,
    Order,
)
from threadline.storage.sql import queries as q
from threadline.storage.sql.items import (
    claim_positions,
    item_page,
    item_row,
    place_in_conversation,
)
from threadline.storage.sql.tables import conversations, responses
from threadline.storage.sql.tables import items as item_table


class ConversationMethods:
    """Conversations and their items; mixed into `SqlStore`, which provides the engines."""

    _read: AsyncEngine
    _write: AsyncEngine
    _dialect: str

    async def create_conversation(
        self, conversation: ConversationRecord, items: list[Item]
    ) -> None:
        c = conversation
        rows = [
            item_row(c.tenant, c.created_at, item, conversation_id=c.id, conversation_position=i)
            for i, item in enumerate(items)
        ]
        values = {
            "id": c.id,
            "tenant": c.tenant,
            "created_at": c.created_at,
            "metadata": q.dumps(c.metadata),
            "status": c.status,
            "last_active_at": c.last_active_at,
            "status_changed_at": c.status_changed_at,
            "next_position": len(rows),
        }
        async with self._write.begin() as conn:
            try:
                await conn.execute(insert(conversations).values(values))
            except IntegrityError as exc:
                raise Conflict(f"A conversation with id '{c.id}' already exists") from exc
            if rows:
                await conn.execute(insert(item_table), rows)

    async def get_conversation(
        self, tenant: str, conversation_id: str
    ) -> ConversationRecord | None:
        stmt = select(conversations).where(
            conversations.c.id == conversation_id, conversations.c.tenant == tenant
        )
        async with self._read.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else q.conversation_record(row)

    async def update_conversation(
        self,
        tenant: str,
        conversation_id: str,
        *,
        metadata: dict[str, str] | None = None,
        status: ConversationStatus | None = None,
        status_changed_at: float | None = None,
    ) -> ConversationRecord | None:
        values: dict[str, Any] = {}
        if metadata is not None:
            values["metadata"] = q.dumps(metadata)
        if status is not None:
            values["status"] = status
        if status_changed_at is not None:
            values["status_changed_at"] = status_changed_at
        if not values:
            return await self.get_conversation(tenant, conversation_id)
        stmt = (
            update(conversations)
            .where(conversations.c.id == conversation_id, conversations.c.tenant == tenant)
            .values(values)
            .returning(*conversations.c)
        )
        async with self._write.begin() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else q.conversation_record(row)

    async def delete_conversation(self, tenant: str, conversation_id: str) -> bool:
        mine = and_(conversations.c.id == conversation_id, conversations.c.tenant == tenant)
        turns = and_(responses.c.conversation_id == conversation_id, responses.c.tenant == tenant)
        async with self._write.begin() as conn:
            # Locked first (PostgreSQL) so no turn appends between deleting items and the row.
            if await conn.scalar(select(conversations.c.id).where(mine).with_for_update()) is None:
                return False
            await conn.execute(
                delete(item_table).where(item_table.c.conversation_id == conversation_id)
            )
            await conn.execute(
                delete(item_table).where(
                    item_table.c.response_id.in_(select(responses.c.id).where(turns))
                )
            )
            await conn.execute(delete(responses).where(turns))
            await conn.execute(delete(conversations).where(mine))
        return True

    async def list_conversations(
        self, tenant: str, flt: ConversationFilter, *, after: str | None, limit: int
    ) -> ConversationPage:
        c = conversations.c
        stmt = select(conversations).where(c.tenant == tenant)
        for key, value in flt.metadata.items():
            stmt = stmt.where(q.metadata_matches(self._dialect, key, value))
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
        async with self._read.connect() as conn:
            if after is not None:
                anchor_stmt = select(c.last_active_at, c.id).where(
                    c.id == after, c.tenant == tenant
                )
                anchor = (await conn.execute(anchor_stmt)).first()
                if anchor is None:
                    raise InvalidRequest(
                        f"No conversation with id '{after}' in this list", param="after"
                    )
                at, anchor_id = anchor
                stmt = stmt.where(
                    or_(c.last_active_at < at, and_(c.last_active_at == at, c.id < anchor_id))
                )
            stmt = stmt.order_by(c.last_active_at.desc(), c.id.desc()).limit(limit + 1)
            rows = (await conn.execute(stmt)).all()
        return ConversationPage(
            conversations=[q.conversation_record(row) for row in rows[:limit]],
            has_more=len(rows) > limit,
        )

    async def append_items(
        self, tenant: str, conversation_id: str, items: list[Item], now: float
    ) -> bool:
        rows = [item_row(tenant, now, item, conversation_id=conversation_id) for item in items]
        async with self._write.begin() as conn:
            start = await claim_positions(conn, tenant, conversation_id, len(rows), now)
            if start is None:
                return False
            place_in_conversation(rows, conversation_id, start)
            if rows:
                await conn.execute(insert(item_table), rows)
        return True

    async def load_conversation(
        self, tenant: str, conversation_id: str
    ) -> tuple[ConversationRecord, list[Item]] | None:
        async with self._read.connect() as conn:
            params = {"tenant": tenant, "conversation_id": conversation_id}
            rows = (await conn.execute(q.CONVERSATION_WITH_ITEMS, params)).all()
        if not rows:
            return None
        found = [orjson.loads(row.item_data) for row in rows if row.item_data is not None]
        return q.conversation_record(rows[0]), found

    async def list_conversation_items(
        self, tenant: str, conversation_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage | None:
        owner = select(conversations.c.id).where(
            conversations.c.id == conversation_id, conversations.c.tenant == tenant
        )
        members = item_table.c.conversation_id == conversation_id
        key = item_table.c.conversation_position
        return await item_page(
            self._read, owner, members, key, after=after, limit=limit, order=order
        )

    async def get_conversation_item(
        self, tenant: str, conversation_id: str, item_id: str
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
        async with self._read.connect() as conn:
            data = await conn.scalar(stmt)
        return None if data is None else orjson.loads(data)

    async def delete_conversation_item(
        self, tenant: str, conversation_id: str, item_id: str
    ) -> bool:
        # An item a turn owns leaves the conversation but stays in its response's record, as
        # deleting a response keeps its conversation items.
        where = (
            item_table.c.conversation_id == conversation_id,
            item_table.c.tenant == tenant,
            item_table.c.item_id == item_id,
        )
        async with self._write.begin() as conn:
            deleted = await conn.execute(
                delete(item_table).where(*where, item_table.c.response_id.is_(None))
            )
            detached = await conn.execute(
                update(item_table)
                .where(*where)
                .values(conversation_id=None, conversation_position=None)
            )
        return deleted.rowcount + detached.rowcount > 0

    async def expire_idle_conversations(self, idle_before: float, now: float) -> int:
        c = conversations.c
        stmt = (
            update(conversations)
            .where(c.status == "active", c.last_active_at < idle_before)
            .values(status="expired", status_changed_at=now)
        )
        async with self._write.begin() as conn:
            result = await conn.execute(stmt)
        return result.rowcount
