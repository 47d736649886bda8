"""Full-text search over items in the SQL store (storage/item_search.py): FTS5 ranked by BM25
on SQLite (migration 0013), a `tsvector` table ranked by `ts_rank` on PostgreSQL (0014).

Items are taken into the index in batches (`index_items`), at each retention sweep and before
each search, never in a turn's own transaction: on SQLite a trigger cost each turn about
0.27 ms of the one writer's CPU (json_tree and the tokenizer), about a sixth of a turn; on
PostgreSQL the GIN index over an expression of each item's JSON cost every insert its
`to_tsvector`. SQLite's text is computed in SQL (json_tree); PostgreSQL's is `item_text`, in
the process."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from threadline.storage.base import ConversationRecord
from threadline.storage.item_search import (
    SKIPPED_KEYS,
    ItemHit,
    ItemSearch,
    item_text,
    metadata_holds,
)
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
_POSTGRES = text(
    f"SELECT {_COLUMNS} FROM item_words JOIN items ON items.seq = item_words.seq, "
    "plainto_tsquery('english', :query) AS q "
    "WHERE item_words.tenant = :tenant AND item_words.words @@ q "
    "ORDER BY ts_rank(item_words.words, q) DESC, items.created_at DESC LIMIT :limit"
)
# Items not yet in `item_words`, oldest first. Sequence numbers are taken when a transaction
# inserts and seen when it commits, so one may appear below the highest already indexed: the
# scan starts `_LOOKBACK` below it, and skips what is there.
_LOOKBACK = 10_000
_UNINDEXED = text(
    "SELECT items.seq, items.tenant, items.data FROM items "
    "WHERE items.seq > (SELECT coalesce(max(seq), 0) FROM item_words) - :lookback "
    "AND NOT EXISTS (SELECT 1 FROM item_words WHERE item_words.seq = items.seq) "
    "ORDER BY items.seq LIMIT :batch"
)
_ADD_WORDS = text(
    "INSERT INTO item_words (seq, tenant, words) "
    "VALUES (:seq, :tenant, to_tsvector('english', :text)) ON CONFLICT (seq) DO NOTHING"
)
_MAX_TEXT = 200_000
"""Characters of an item's text that are indexed (PostgreSQL refuses a `tsvector` over 1 MB)."""


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
    """Index up to `INDEX_BATCH` items not yet indexed; how many were looked at."""
    if conn.dialect.name == "sqlite":
        return conn.execute(_INDEX_ITEMS, {"batch": INDEX_BATCH}).rowcount
    params = {"lookback": _LOOKBACK, "batch": INDEX_BATCH}
    rows = conn.execute(_UNINDEXED, params).all()
    if rows:
        conn.execute(
            _ADD_WORDS,
            [
                {
                    "seq": row.seq,
                    "tenant": row.tenant,
                    "text": item_text(orjson.loads(row.data))[:_MAX_TEXT].replace("\x00", ""),
                }
                for row in rows
            ],
        )
    return len(rows)


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
        taken = 0
        while (batch := await self._db.write(index_items)) > 0:
            taken += batch
            if batch < INDEX_BATCH:
                break
        return taken
