"""Ranking vector-store chunks inside the database, per dialect.

- SQLite: the vector ranking is exact, by `sqlite-vec`'s `vec_distance_cosine` over the chunks'
  float32 blobs; the keyword ranking is FTS5's BM25 over `vector_chunks_fts` (migration 0009).
- PostgreSQL: the vector ranking is exact too, a dot product of the chunk's `real[]` with the
  query's computed in SQL (no extension needed; the cost grows with the chunks searched: see
  docs/performance.md); the keyword ranking is `ts_rank_cd` over the English `tsvector`
  through its GIN index.

Both rank only the chunks of the tenant's stores asked for, and of the files a filter let
through.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, REAL
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import BindParameter

from threadline.storage.vector_stores import ChunkMatch, ChunkMatches, ChunkQuery

_WORD = re.compile(r"\w+")


def embedding_value(dialect: str, vector: Sequence[float]) -> Any:
    """A vector as its column holds it: float32 little-endian bytes, or a `real[]`."""
    if dialect == "postgresql":
        return list(vector)
    return struct.pack(f"<{len(vector)}f", *vector)


def search_chunks(conn: Connection, query: ChunkQuery) -> ChunkMatches:
    postgres = conn.dialect.name == "postgresql"
    where = (
        "c.vector_store_id IN (SELECT id FROM vector_stores "
        "WHERE tenant = :tenant AND id IN :stores)"
    )
    if query.file_ids is not None:
        if not query.file_ids:
            return ChunkMatches([], [])
        where += " AND c.file_id IN :files"
    params: dict[str, Any] = {
        "tenant": query.tenant,
        "stores": query.vector_store_ids,
        "limit": query.limit,
    }
    if query.file_ids is not None:
        params["files"] = query.file_ids
    expanding: list[BindParameter[Any]] = [bindparam("stores", expanding=True)]
    if query.file_ids is not None:
        expanding.append(bindparam("files", expanding=True))
    columns = "c.vector_store_id, c.file_id, c.ordinal, c.text"
    if postgres:
        by_vector = text(
            f"SELECT {columns}, (SELECT sum(a * b) FROM unnest(c.embedding, :vector) "
            f"AS u(a, b)) AS score FROM vector_chunks c WHERE {where} "
            "ORDER BY score DESC LIMIT :limit"
        ).bindparams(*expanding, bindparam("vector", type_=ARRAY(REAL)))
    else:
        by_vector = text(
            f"SELECT {columns}, 1 - vec_distance_cosine(c.embedding, :vector) AS score "
            f"FROM vector_chunks c WHERE {where} ORDER BY score DESC LIMIT :limit"
        ).bindparams(*expanding)
    vector_rows = conn.execute(
        by_vector, {**params, "vector": embedding_value(conn.dialect.name, query.vector)}
    ).all()
    terms = sorted({w for keyword in query.keywords for w in _WORD.findall(keyword.lower())})
    keyword_rows: Sequence[Any] = []
    if terms:
        if postgres:
            by_keyword = text(
                f"SELECT {columns}, ts_rank_cd(to_tsvector('english', c.text), q) AS score "
                "FROM vector_chunks c, to_tsquery('english', :match) AS q "
                f"WHERE to_tsvector('english', c.text) @@ q AND {where} "
                "ORDER BY score DESC LIMIT :limit"
            ).bindparams(*expanding)
            match = " | ".join(f"'{term}'" for term in terms)
        else:
            by_keyword = text(
                f"SELECT {columns}, -bm25(vector_chunks_fts) AS score FROM vector_chunks_fts "
                "JOIN vector_chunks c ON c.id = vector_chunks_fts.rowid "
                f"WHERE vector_chunks_fts MATCH :match AND {where} "
                "ORDER BY bm25(vector_chunks_fts) LIMIT :limit"
            ).bindparams(*expanding)
            match = " OR ".join(f'"{term}"' for term in terms)
        keyword_rows = conn.execute(by_keyword, {**params, "match": match}).all()
    return ChunkMatches(_matches(vector_rows), _matches(keyword_rows))


def _matches(rows: Sequence[Any]) -> list[ChunkMatch]:
    return [
        ChunkMatch(row.vector_store_id, row.file_id, row.ordinal, row.text, float(row.score or 0))
        for row in rows
    ]
