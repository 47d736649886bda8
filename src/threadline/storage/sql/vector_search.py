"""Ranking vector-store chunks inside the database, per dialect.

- SQLite: the vector ranking is exact, by `sqlite-vec`'s `vec_distance_cosine` over the chunks'
  float32 blobs; the keyword ranking is FTS5's BM25 over `vector_chunks_fts` (migration 0009).
- PostgreSQL: the vector ranking is exact too. With the `cube` extension (migration 0009 keeps
  each embedding of up to 1,600 dimensions as cubes of 100 too), it is the sum of the parts'
  squared Euclidean distances, computed in C: for unit vectors, 1 - d²/2 is the cosine.
  Without it (or for a longer embedding), a dot product of the `real[]`s over their unnested
  elements, in SQL: no extension needed, about ten times slower. Either way the cost grows
  with the chunks searched (docs/performance.md). The keyword ranking is `ts_rank_cd` over the
  English `tsvector` through its GIN index.

Both rank only the chunks of the tenant's stores asked for, and of the files a filter let
through.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Double, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, REAL
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import BindParameter

from threadline.storage.vector_ranking import words
from threadline.storage.vector_stores import ChunkMatch, ChunkMatches, ChunkQuery


def embedding_value(dialect: str, vector: Sequence[float]) -> Any:
    """A vector as its column holds it: float32 little-endian bytes, or a `real[]`."""
    if dialect == "postgresql":
        return list(vector)
    return struct.pack(f"<{len(vector)}f", *vector)


PART_DIMS, PARTS = 100, 16
"""The cubes of migration 0009: up to 16 of up to 100 dimensions."""


def has_cube_parts(conn: Connection) -> bool:
    """Whether migration 0009 could keep the embeddings as cubes here."""
    if conn.dialect.name != "postgresql":
        return False
    found = conn.exec_driver_sql(
        "SELECT 1 FROM information_schema.columns "
        "WHERE table_name = 'vector_chunks' AND column_name = 'part1' "
        "AND table_schema = current_schema()"
    ).first()
    return found is not None


def _postgres_vector_ranking(
    columns: str, where: str, vector: Sequence[float], cube: bool
) -> tuple[str, dict[str, Any], list[BindParameter[Any]]]:
    if cube and len(vector) <= PART_DIMS * PARTS:
        parts = range(1, (len(vector) + PART_DIMS - 1) // PART_DIMS + 1)
        distance = " + ".join(f"cube_distance(c.part{k}, q.q{k}) ^ 2" for k in parts)
        made = ", ".join(f"cube(CAST(:q{k} AS float8[])) AS q{k}" for k in parts)
        sql = (
            f"SELECT {columns}, 1 - ({distance}) / 2 AS score FROM vector_chunks c, "
            f"(SELECT {made}) AS q WHERE {where} ORDER BY score DESC LIMIT :limit"
        )
        values = {f"q{k}": list(vector[(k - 1) * PART_DIMS : k * PART_DIMS]) for k in parts}
        return sql, values, [bindparam(f"q{k}", type_=ARRAY(Double)) for k in parts]
    sql = (
        f"SELECT {columns}, (SELECT sum(a * b) FROM unnest(c.embedding, :vector) "
        f"AS u(a, b)) AS score FROM vector_chunks c WHERE {where} "
        "ORDER BY score DESC LIMIT :limit"
    )
    return sql, {"vector": list(vector)}, [bindparam("vector", type_=ARRAY(REAL))]


def embedding_floats(value: Any) -> list[float]:
    """A vector as a column held it (either form of `embedding_value`)."""
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return list(struct.unpack(f"<{len(data) // 4}f", data))
    return [float(x) for x in value]


def search_chunks(conn: Connection, query: ChunkQuery, cube: bool = False) -> ChunkMatches:
    """`cube`: whether the embeddings are also kept as cubes (`has_cube_parts`)."""
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
        sql, values, typed = _postgres_vector_ranking(columns, where, query.vector, cube)
        by_vector = text(sql).bindparams(*expanding, *typed)
    else:
        by_vector = text(
            f"SELECT {columns}, 1 - vec_distance_cosine(c.embedding, :vector) AS score "
            f"FROM vector_chunks c WHERE {where} ORDER BY score DESC LIMIT :limit"
        ).bindparams(*expanding)
        values = {"vector": embedding_value("sqlite", query.vector)}
    vector_rows = conn.execute(by_vector, {**params, **values}).all()
    terms = sorted({w for keyword in query.keywords for w in words(keyword)})
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
