"""Copy one Threadline SQL database into another (SQLite <-> PostgreSQL), row for row.

Every column is copied as it is, keys included: response, item and conversation ids, the items'
`seq` and their positions, so the copy serves the same chains and conversations in the same
order, and API keys keep working. The destination is migrated to the newest schema first; the
source must already be at it (`threadline db migrate` brings it there), because rows of an older
schema would not fit the destination's tables.

The source is read in one snapshot (a REPEATABLE READ transaction on PostgreSQL, a read
transaction on SQLite), in batches of rows in primary key order (each batch starts after the
last key of the previous one), so a copy taken from a running server is consistent and memory
stays flat. The destination is written in one transaction: a copy that
fails leaves it as it was. PostgreSQL's `items.seq` sequence is moved past the copied rows, so
the next item a server inserts gets a fresh number (and so do vector chunks). Vector stores are
copied with their files, batches and chunks; the chunks' embeddings change form on the way
(float32 bytes on SQLite, `real[]` on PostgreSQL), and each destination's keyword index and
cubes are filled by its own triggers as the rows arrive. The usage ledger and the keys'
usage counters are copied too (PostgreSQL's `usage_records.seq` sequence is moved likewise), so
budgets carry on where they stood; and the audit trail and legal holds.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Table, delete, func, insert, select, text, tuple_
from sqlalchemy.engine import Connection

from threadline.storage.sql.migrate import current_revision, head_revision
from threadline.storage.sql.store import SqlStore
from threadline.storage.sql.tables import (
    api_keys,
    audit_events,
    chat_completions,
    conversations,
    items,
    key_usage_windows,
    legal_holds,
    responses,
    usage_records,
    vector_chunks,
    vector_file_batches,
    vector_store_files,
    vector_stores,
)
from threadline.storage.sql.vector_search import embedding_floats, embedding_value

# Parents before the rows that refer to them (items name responses and conversations; a
# vector store's files and batches name it).
TABLES: tuple[Table, ...] = (
    responses,
    conversations,
    items,
    api_keys,
    chat_completions,
    vector_stores,
    vector_store_files,
    vector_file_batches,
    vector_chunks,
    usage_records,
    key_usage_windows,
    audit_events,
    legal_holds,
)
BATCH_SIZE = 1000


class CopyRefused(Exception):
    """The copy would lose or mix up data; nothing was written."""


class CopyProgress(Protocol):
    def start(self, totals: dict[str, int]) -> None:
        """Rows each table will copy, before the first is written."""

    def advance(self, table: str, rows: int) -> None:
        """`rows` more rows of `table` were written."""


async def copy_database(
    source: SqlStore,
    destination: SqlStore,
    *,
    replace: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: CopyProgress | None = None,
) -> dict[str, int]:
    """Copy every table of `source` into `destination`; the rows copied per table.

    Raises CopyRefused if both are one database, the source is not at the newest schema, or
    the destination holds data and `replace` is false (with `replace`, its rows are deleted
    in the same transaction that writes the copy)."""
    if source.engine.url == destination.engine.url:
        raise CopyRefused("The source and the destination are the same database")
    await _require_current_schema(source)
    await destination.migrate()
    async with source.snapshot() as reader, destination.transaction() as writer:
        existing = await writer.run(_row_counts)
        if any(existing.values()) and not replace:
            held = ", ".join(f"{count} {name}" for name, count in existing.items() if count)
            raise CopyRefused(f"The destination is not empty ({held}); --force replaces it")
        totals = await reader.run(_row_counts)
        if progress is not None:
            progress.start(totals)
        await writer.run(_delete_all)
        for table in TABLES:
            after: Any = None
            while rows := await reader.run(_batch, table, after, batch_size):
                await writer.run(_insert, table, rows)
                after = tuple(rows[-1][column.name] for column in _key(table))
                if progress is not None:
                    progress.advance(table.name, len(rows))
        if destination.write_engine.dialect.name == "postgresql":
            await writer.run(_move_sequences)
    return totals


async def _require_current_schema(source: SqlStore) -> None:
    found, expected = await source.read(current_revision), head_revision()
    if found is None:
        raise CopyRefused("The source has no Threadline schema (is it a Threadline database?)")
    if found != expected:
        raise CopyRefused(
            f"The source's schema is version {found}, this Threadline's is {expected}; "
            "run `threadline db migrate --db SOURCE` first"
        )


def _key(table: Table) -> list[Any]:
    return list(table.primary_key.columns)


def _row_counts(conn: Connection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in TABLES:
        counts[table.name] = int(conn.scalar(select(func.count()).select_from(table)) or 0)
    return counts


def _delete_all(conn: Connection) -> None:
    for table in reversed(TABLES):
        conn.execute(delete(table))


def _batch(conn: Connection, table: Table, after: Any, size: int) -> list[dict[str, Any]]:
    key = _key(table)
    stmt = select(table).order_by(*key).limit(size)
    if after is not None:
        stmt = stmt.where(tuple_(*key) > tuple_(*after) if len(key) > 1 else key[0] > after[0])
    return [dict(row._mapping) for row in conn.execute(stmt)]


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if table is vector_chunks:  # float32 bytes on SQLite, real[] on PostgreSQL
        dialect = conn.dialect.name
        rows = [
            {**row, "embedding": embedding_value(dialect, embedding_floats(row["embedding"]))}
            for row in rows
        ]
    conn.execute(insert(table), rows)


def _move_sequences(conn: Connection) -> None:
    for table, column in (("items", "seq"), ("vector_chunks", "id"), ("usage_records", "seq")):
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                f"COALESCE(MAX({column}), 1), MAX({column}) IS NOT NULL) FROM {table}"
            )
        )
