"""Full-text search over items in the SQL store (storage/item_search.py): FTS5 ranked by BM25
on SQLite (migration 0013), a `tsvector` table ranked by `ts_rank` on PostgreSQL (0014).

Items are taken into the index in batches (`index_items`), at each retention sweep and before
each search, never in a turn's own transaction: on SQLite a trigger cost each turn about
0.27 ms of the one writer's CPU (json_tree and the tokenizer), about a sixth of a turn; on
PostgreSQL the GIN index over an expression of each item's JSON cost every insert its
`to_tsvector`. The text indexed is computed in the process (`ContentCodec.index_text`): an
item's words, or their blind terms when content is sealed (encryption.py), which SQL could not
read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from threadline.storage.base import ConversationRecord
from threadline.storage.encryption import ContentCodec
from threadline.storage.item_search import ItemHit, ItemSearch, metadata_holds
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
    "to_tsquery('english', :query) AS q "
    "WHERE item_words.tenant = :tenant AND item_words.words @@ q "
    "ORDER BY ts_rank(item_words.words, q) DESC, items.created_at DESC LIMIT :limit"
)
# Items not yet in `item_words`, oldest first. Sequence numbers are taken when a transaction
# inserts and seen when it commits, so one may appear below the highest already indexed: the
# scan starts `_LOOKBACK` below it, and skips what is there. The bound is repeated inside
# NOT EXISTS: without it the anti-join read the whole of `item_words`' key index on every
# batch (37 ms at 320,000 items, growing with the table; 8 ms with it).
_LOOKBACK = 10_000
_INDEXED_BELOW = "(SELECT coalesce(max(seq), 0) FROM item_words) - :lookback"
_UNINDEXED_POSTGRES = text(
    "SELECT items.seq, items.tenant, items.data FROM items "
    f"WHERE items.seq > {_INDEXED_BELOW} "
    "AND NOT EXISTS (SELECT 1 FROM item_words WHERE item_words.seq = items.seq "
    f"AND item_words.seq > {_INDEXED_BELOW}) "
    "ORDER BY items.seq LIMIT :batch"
)
_UNINDEXED_SQLITE = text(
    "SELECT seq, tenant, data FROM items "
    "WHERE seq > (SELECT coalesce(max(rowid), 0) FROM items_fts) ORDER BY seq LIMIT :batch"
)
_ADD_TEXT = text("INSERT INTO items_fts(rowid, text) VALUES (:seq, :text)")
_ADD_WORDS = text(
    "INSERT INTO item_words (seq, tenant, words) "
    "VALUES (:seq, :tenant, to_tsvector('english', :text)) ON CONFLICT (seq) DO NOTHING"
)
_MAX_TEXT = 200_000
"""Characters of an item's text that are indexed (PostgreSQL refuses a `tsvector` over 1 MB)."""

INDEX_BATCH = 5000


def index_items(conn: Connection, codec: ContentCodec) -> int:
    """Index up to `INDEX_BATCH` items not yet indexed; how many were looked at."""
    if conn.dialect.name == "sqlite":
        rows = conn.execute(_UNINDEXED_SQLITE, {"batch": INDEX_BATCH}).all()
    else:
        rows = conn.execute(
            _UNINDEXED_POSTGRES, {"lookback": _LOOKBACK, "batch": INDEX_BATCH}
        ).all()
    if rows:
        reindex_items(conn, codec, [(row.seq, row.tenant, row.data) for row in rows], fresh=True)
    return len(rows)


def reindex_items(
    conn: Connection, codec: ContentCodec, rows: list[tuple[int, str, str]], *, fresh: bool = False
) -> None:
    """Put the items (seq, tenant, stored data) in the index; `fresh`: none is there yet.
    Otherwise only those already indexed are indexed again: `index_items` takes the others
    later, and on SQLite an item put in ahead of its turn would hide the ones before it (the
    index resumes after the highest item it holds)."""
    if conn.dialect.name == "sqlite":
        if not fresh:
            highest = conn.scalar(text("SELECT coalesce(max(rowid), 0) FROM items_fts"))
            rows = [row for row in rows if row[0] <= highest]
            if rows:  # a contentless table forgets a row by its rowid alone
                conn.execute(
                    text("DELETE FROM items_fts WHERE rowid = :seq"),
                    [{"seq": s} for s, _, _ in rows],
                )
        if rows:
            conn.execute(
                _ADD_TEXT, [{"seq": seq, "text": _indexed(codec, data)} for seq, _, data in rows]
            )
        return
    if not fresh:
        seqs = [seq for seq, _, _ in rows]
        dropped = set(
            conn.scalars(
                text("DELETE FROM item_words WHERE seq = ANY(:seqs) RETURNING seq"),
                {"seqs": seqs},
            ).all()
        )
        rows = [row for row in rows if row[0] in dropped]
    if not rows:
        return
    conn.execute(
        _ADD_WORDS,
        [
            {"seq": seq, "tenant": tenant, "text": _indexed(codec, data)}
            for seq, tenant, data in rows
        ],
    )


def _indexed(codec: ContentCodec, data: str) -> str:
    return codec.index_text(codec.load(data))[:_MAX_TEXT].replace("\x00", "")


def search_items(
    conn: Connection, codec: ContentCodec, tenant: str, query: str, limit: int
) -> list[ItemHit]:
    terms = words(query)
    if not terms:
        return []
    params: dict[str, Any] = {"tenant": tenant, "limit": limit}
    # Each word of the query as any of the terms it may be indexed as (encryption.py).
    alternatives = [codec.query_terms(term) for term in terms]
    if conn.dialect.name == "sqlite":
        statement = _SQLITE
        params["match"] = " AND ".join(
            "(" + " OR ".join(f'"{t}"' for t in ways) + ")" for ways in alternatives
        )
    else:
        statement = _POSTGRES
        params["query"] = " & ".join("(" + " | ".join(ways) + ")" for ways in alternatives)
    return [
        ItemHit(codec.load(row.data), row.conversation_id, row.response_id)
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
    _codec: ContentCodec

    async def search_conversations(
        self, tenant: str, query: str, *, limit: int
    ) -> list[ConversationRecord]:
        return await self._db.read(search_conversations, tenant, query, limit)

    async def search_items(self, tenant: str, query: str, *, limit: int) -> list[ItemHit]:
        await self.refresh_search_index()
        return await self._db.read(search_items, self._codec, tenant, query, limit)

    async def refresh_search_index(self) -> int:
        taken = 0
        while (batch := await self._db.write(index_items, self._codec)) > 0:
            taken += batch
            if batch < INDEX_BATCH:
                break
        return taken
