"""Full-text search over items in the SQL store (storage/item_search.py), through the index of
migration 0013: FTS5 ranked by BM25 on SQLite, `tsvector` ranked by `ts_rank` on PostgreSQL.

On SQLite, items are taken into the FTS5 table in batches (`index_items`: those past its
highest rowid), at each retention sweep and before each search, not by a trigger on every
stored turn: a trigger cost each turn about 0.27 ms of the one writer's CPU (json_tree and the
tokenizer), about a sixth of a turn. PostgreSQL keeps its GIN index itself."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from threadline.storage.base import ConversationRecord
from threadline.storage.item_search import SKIPPED_KEYS, ItemHit, ItemSearch, metadata_holds
from threadline.storage.sql import queries as q
from threadline.storage.sql.databases import Database
from threadline.storage.sql.tables import conversations
from threadline.storage.vector_ranking import words

_COLUMNS = "items.data, items.conversation_id, items.response_id"
_SQLITE = text(
    f"SELECT {_COLUMNS} FROM items_fts JOIN items ON items.seq = items_fts.rowid "
    "WHERE items_fts MATCH :match AND items.tenant = :tenant "
    "ORDER BY bm25(items_fts), items.created_at DESC LIMIT :limit"
)
# As migration 0013's index, word for word, so that the planner uses it.
_VECTOR = (
    "jsonb_to_tsvector('english', "
    "(data::jsonb) - 'id' - 'type' - 'role' - 'status' - 'call_id' - 'encrypted_content', "
    "'[\"string\"]')"
)
_POSTGRES = text(
    f"SELECT {_COLUMNS} FROM items, plainto_tsquery('english', :query) AS q "
    f"WHERE items.tenant = :tenant AND {_VECTOR} @@ q "
    f"ORDER BY ts_rank({_VECTOR}, q) DESC, items.created_at DESC LIMIT :limit"
)


_SKIPPED_SQL = ", ".join(f"'{key}'" for key in SKIPPED_KEYS)
INDEX_BATCH = 5000
_INDEX_ITEMS = text(
    "INSERT INTO items_fts(rowid, text) SELECT seq, "
    "(SELECT coalesce(group_concat(value, ' '), '') FROM json_tree(data) "
    f"WHERE type = 'text' AND (typeof(key) != 'text' OR key NOT IN ({_SKIPPED_SQL}))) "
    "FROM items WHERE seq > (SELECT coalesce(max(rowid), 0) FROM items_fts) "
    "ORDER BY seq LIMIT :batch"
)


def index_items(conn: Connection) -> int:
    """Index up to `INDEX_BATCH` items not yet in `items_fts` (SQLite); how many."""
    return conn.execute(_INDEX_ITEMS, {"batch": INDEX_BATCH}).rowcount


def search_items(conn: Connection, tenant: str, query: str, limit: int) -> list[ItemHit]:
    terms = words(query)
    if not terms:
        return []
    params: dict[str, Any] = {"tenant": tenant, "limit": limit}
    if conn.dialect.name == "sqlite":
        statement = _SQLITE
        params["match"] = " ".join(f'"{term}"' for term in terms)
    else:
        statement = _POSTGRES
        params["query"] = " ".join(terms)
    return [
        ItemHit(orjson.loads(row.data), row.conversation_id, row.response_id)
        for row in conn.execute(statement, params).all()
    ]


_SCANNED = 10_000
"""At most this many conversations are read to find `limit` whose metadata matches."""


def search_conversations(
    conn: Connection, tenant: str, query: str, limit: int
) -> list[ConversationRecord]:
    """Conversations whose metadata JSON contains each word (a scan of the tenant's rows,
    narrowed by LIKE), then checked word by word: metadata is small, and there is no index
    of it to keep up on every write."""
    terms = set(words(query))
    if not terms:
        return []
    stmt = select(conversations).where(conversations.c.tenant == tenant)
    for term in terms:  # a `_` in a word matches any one character here: the check below is exact
        stmt = stmt.where(func.lower(conversations.c.metadata).like(f"%{term}%"))
    stmt = stmt.order_by(conversations.c.last_active_at.desc(), conversations.c.id.desc())
    found: list[ConversationRecord] = []
    for row in conn.execute(stmt.limit(_SCANNED)):
        record = q.conversation_record(row)
        if metadata_holds(record.metadata, terms):
            found.append(record)
            if len(found) == limit:
                break
    return found


class SqlItemSearch(ItemSearch):
    _db: Database

    async def search_conversations(
        self, tenant: str, query: str, *, limit: int
    ) -> list[ConversationRecord]:
        return await self._db.read(search_conversations, tenant, query, limit)

    async def search_items(self, tenant: str, query: str, *, limit: int) -> list[ItemHit]:
        await self.refresh_search_index()
        return await self._db.read(search_items, tenant, query, limit)

    async def refresh_search_index(self) -> int:
        if self._db.engine.dialect.name != "sqlite":
            return 0
        taken = 0
        while (batch := await self._db.write(index_items)) > 0:
            taken += batch
            if batch < INDEX_BATCH:
                break
        return taken
