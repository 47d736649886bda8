"""SqlStore: the storage contract on SQLAlchemy Core, for SQLite and PostgreSQL alike.

Core rather than the ORM: the store moves rows, not objects with identity, and a turn's save is
a handful of statements whose cost should be visible in this file.

Writes are one transaction each. Appending to a conversation claims positions with
`UPDATE conversations SET next_position = next_position + n … RETURNING` inside the same
transaction as the item inserts; the row lock that UPDATE takes (PostgreSQL) or the database
write lock (SQLite) keeps a concurrent turn from claiming the same range, and the positions come
out in commit order. No lock lives in this process, so replicas sharing a PostgreSQL database
keep the same guarantee. Reads run on the reader engine (see engines.py).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import (
    Row,
    and_,
    delete,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from threadline.errors import Conflict
from threadline.storage.base import (
    ApiKeyRecord,
    Item,
    ItemPage,
    Order,
    Store,
    StoredResponse,
    TurnRecord,
)
from threadline.storage.sql import queries as q
from threadline.storage.sql.conversations import ConversationMethods
from threadline.storage.sql.engines import create_engines
from threadline.storage.sql.items import (
    claim_positions,
    item_page,
    item_row,
    place_in_conversation,
    release_items,
)
from threadline.storage.sql.migrate import upgrade
from threadline.storage.sql.tables import api_keys, conversations, responses
from threadline.storage.sql.tables import items as item_table

# Responses deleted per retention transaction, so a large sweep never holds SQLite's write lock
# for long while turns wait to be saved.
SWEEP_BATCH = 500


class SqlStore(ConversationMethods, Store):
    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> None:
        """`url` is a SQLAlchemy async URL, e.g. `sqlite+aiosqlite:////srv/threadline.db` or
        `postgresql+asyncpg://user:pass@host/db`; the pool sizes apply to PostgreSQL."""
        self._read, self._write = create_engines(
            url, pool_size=pool_size, max_overflow=max_overflow
        )
        self._dialect = self._read.dialect.name

    @property
    def engine(self) -> AsyncEngine:
        """The engine that serves reads."""
        return self._read

    @property
    def write_engine(self) -> AsyncEngine:
        """The engine whose transactions write (SQLite's readers are read-only)."""
        return self._write

    # -- lifecycle ----------------------------------------------------------------------------
    async def migrate(self) -> None:
        await upgrade(self._write)

    async def close(self) -> None:
        await self._write.dispose()
        # On PostgreSQL the reader is a view of the writer's pool, already disposed.
        if self._read.sync_engine.pool is not self._write.sync_engine.pool:
            await self._read.dispose()

    async def ping(self) -> None:
        async with self._read.connect() as conn:
            await conn.execute(select(literal_column("1")))

    # -- responses ----------------------------------------------------------------------------
    async def save_turn(self, turn: TurnRecord) -> None:
        record = turn.response
        # Serialized before the transaction opens, so the write lock is held only for writing.
        response_row = q.response_values(record, conversation_position=None)
        inputs = len(turn.input_items)
        rows = [
            item_row(
                record.tenant,
                record.created_at,
                item,
                response_id=record.id,
                kind="input" if i < inputs else "output",
                position=i,
            )
            for i, item in enumerate([*turn.input_items, *turn.output_items])
        ]
        conversation_id = record.conversation_id
        active_at = record.completed_at if record.completed_at is not None else record.created_at
        async with self._write.begin() as conn:
            start: int | None = None
            if conversation_id is not None and turn.append_to_conversation:
                start = await claim_positions(
                    conn, record.tenant, conversation_id, len(rows), active_at
                )
                if start is not None:
                    place_in_conversation(rows, conversation_id, start)
            elif conversation_id is not None:
                # Not appended (a failed turn): note where the conversation stood, so that
                # continuing this response still starts from the conversation before it.
                start = await conn.scalar(
                    select(conversations.c.next_position).where(
                        conversations.c.id == conversation_id,
                        conversations.c.tenant == record.tenant,
                    )
                )
            response_row["conversation_position"] = start
            try:
                await conn.execute(insert(responses).values(response_row))
            except IntegrityError as exc:
                raise Conflict(f"A response with id '{record.id}' already exists") from exc
            if rows:
                await conn.execute(insert(item_table), rows)

    async def get_response(self, tenant: str, response_id: str) -> StoredResponse | None:
        async with self._read.connect() as conn:
            params = {"tenant": tenant, "response_id": response_id}
            rows = (await conn.execute(q.RESPONSE_WITH_OUTPUT, params)).all()
        if not rows:
            return None
        output = [orjson.loads(row.item_data) for row in rows if row.item_data is not None]
        return StoredResponse(record=q.response_record(rows[0]), output=output)

    async def delete_response(self, tenant: str, response_id: str) -> bool:
        async with self._write.begin() as conn:
            await release_items(
                conn, item_table.c.response_id == response_id, item_table.c.tenant == tenant
            )
            deleted = await conn.execute(
                delete(responses).where(responses.c.id == response_id, responses.c.tenant == tenant)
            )
        return deleted.rowcount > 0

    async def list_input_items(
        self, tenant: str, response_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage | None:
        owner = select(responses.c.id).where(
            responses.c.id == response_id, responses.c.tenant == tenant
        )
        members = and_(item_table.c.response_id == response_id, item_table.c.kind == "input")
        key = item_table.c.position
        return await item_page(
            self._read, owner, members, key, after=after, limit=limit, order=order
        )

    async def load_chain(self, tenant: str, response_id: str) -> list[Item] | None:
        async with self._read.connect() as conn:
            params = {"tenant": tenant, "response_id": response_id}
            rows = (await conn.execute(q.CHAIN_CONTEXT, params)).all()
        if not rows:
            return None
        return [orjson.loads(row.data) for row in rows if row.part != 0]

    async def get_items(self, tenant: str, item_ids: list[str]) -> dict[str, Item]:
        if not item_ids:
            return {}
        wanted = list(dict.fromkeys(item_ids))
        stmt = (
            select(item_table.c.item_id, item_table.c.data)
            .where(item_table.c.tenant == tenant, item_table.c.item_id.in_(wanted))
            .order_by(item_table.c.seq)
        )
        async with self._read.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        found: dict[str, Item] = {}
        for item_id, data in rows:
            # An id sent back by a client can be stored twice; the first write is the original.
            if item_id not in found:
                found[item_id] = orjson.loads(data)
        return found

    async def delete_responses_created_before(self, cutoff: float) -> int:
        total = 0
        while True:
            async with self._write.begin() as conn:
                batch = select(responses.c.id).where(responses.c.created_at < cutoff)
                ids = list((await conn.scalars(batch.limit(SWEEP_BATCH))).all())
                if not ids:
                    return total
                await release_items(conn, item_table.c.response_id.in_(ids))
                deleted = await conn.execute(delete(responses).where(responses.c.id.in_(ids)))
            # rowcount, not len(ids): a sweep on another replica may have taken some already.
            total += deleted.rowcount

    # -- API keys -----------------------------------------------------------------------------
    async def create_api_key(self, key: ApiKeyRecord) -> None:
        values = {
            "id": key.id,
            "tenant": key.tenant,
            "name": key.name,
            "key_hash": key.key_hash,
            "created_at": key.created_at,
            "revoked_at": key.revoked_at,
        }
        async with self._write.begin() as conn:
            try:
                await conn.execute(insert(api_keys).values(values))
            except IntegrityError as exc:
                raise Conflict(
                    f"API key '{key.name}' clashes with an existing key (same name, id or secret)"
                ) from exc

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        stmt = select(api_keys).where(
            api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
        )
        async with self._read.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else _api_key_record(row)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        stmt = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        async with self._read.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_api_key_record(row) for row in rows]

    async def revoke_api_key(self, key_id_or_name: str, now: float) -> bool:
        stmt = (
            update(api_keys)
            .where(
                or_(api_keys.c.id == key_id_or_name, api_keys.c.name == key_id_or_name),
                api_keys.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        async with self._write.begin() as conn:
            result = await conn.execute(stmt)
        return result.rowcount > 0

    async def has_api_keys(self) -> bool:
        stmt = select(api_keys.c.id).where(api_keys.c.revoked_at.is_(None)).limit(1)
        async with self._read.connect() as conn:
            return await conn.scalar(stmt) is not None


def _api_key_record(row: Row[Any]) -> ApiKeyRecord:
    m = row._mapping
    return ApiKeyRecord(
        id=m["id"],
        tenant=m["tenant"],
        name=m["name"],
        key_hash=m["key_hash"],
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
    )
