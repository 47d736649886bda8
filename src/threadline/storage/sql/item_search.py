"""Full-text search over items in the SQL store (storage/item_search.py), through the index of
migration 0013: FTS5 ranked by BM25 on SQLite, `tsvector` ranked by `ts_rank` on PostgreSQL."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.engine import Connection

from threadline.storage.item_search import ItemHit, ItemSearch
from threadline.storage.sql.databases import Database
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


class SqlItemSearch(ItemSearch):
    _db: Database

    async def search_items(self, tenant: str, query: str, *, limit: int) -> list[ItemHit]:
        return await self._db.read(search_items, tenant, query, limit)
