"""Copy one Threadline SQL database into another (SQLite <-> PostgreSQL), row for row.

Every column is copied as it is, keys included: response, item and conversation ids, the items'
`seq` and their positions, so the copy serves the same chains and conversations in the same
order, and API keys keep working. The destination is migrated to the newest schema first; the
source must already be at it (`threadline db migrate` brings it there), because rows of an older
schema would not fit the destination's tables.

The source is read in one snapshot (a REPEATABLE READ transaction on PostgreSQL, a read
transaction on SQLite), streamed in batches, so a copy taken from a running server is
consistent and memory stays flat. The destination is written in one transaction: a copy that
fails leaves it as it was. PostgreSQL's `items.seq` sequence is moved past the copied rows, so
the next item a server inserts gets a fresh number.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from threadline.storage.sql.migrate import current_revision, head_revision
from threadline.storage.sql.store import SqlStore
from threadline.storage.sql.tables import api_keys, conversations, items, responses

# Parents before the rows that refer to them (items name responses and conversations).
TABLES: tuple[Table, ...] = (responses, conversations, items, api_keys)
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
    async with _snapshot(source) as reader, destination.write_engine.begin() as writer:
        existing = await _row_counts(writer)
        if any(existing.values()) and not replace:
            held = ", ".join(f"{count} {name}" for name, count in existing.items() if count)
            raise CopyRefused(f"The destination is not empty ({held}); --force replaces it")
        totals = await _row_counts(reader)
        if progress is not None:
            progress.start(totals)
        for table in reversed(TABLES):
            await writer.execute(delete(table))
        for table in TABLES:
            await _copy_table(reader, writer, table, batch_size, progress)
        if writer.dialect.name == "postgresql":
            await writer.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('items', 'seq'), "
                    "COALESCE(MAX(seq), 1), MAX(seq) IS NOT NULL) FROM items"
                )
            )
    return totals


async def _require_current_schema(source: SqlStore) -> None:
    found, expected = await current_revision(source.engine), head_revision()
    if found is None:
        raise CopyRefused("The source has no Threadline schema (is it a Threadline database?)")
    if found != expected:
        raise CopyRefused(
            f"The source's schema is version {found}, this Threadline's is {expected}; "
            "run `threadline db migrate --db SOURCE` first"
        )


@asynccontextmanager
async def _snapshot(store: SqlStore) -> AsyncIterator[AsyncConnection]:
    """A connection that sees the database as it was when the copy began."""
    async with store.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            snapshot = await conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            async with snapshot.begin():
                yield snapshot
            return
        # The SQLite reader runs without driver transactions (engines.py); an explicit one
        # pins a WAL snapshot until the rollback that closes the connection's transaction.
        await conn.exec_driver_sql("BEGIN")
        try:
            yield conn
        finally:
            await conn.rollback()


async def _row_counts(conn: AsyncConnection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in TABLES:
        counts[table.name] = int(await conn.scalar(select(func.count()).select_from(table)) or 0)
    return counts


async def _copy_table(
    reader: AsyncConnection,
    writer: AsyncConnection,
    table: Table,
    batch_size: int,
    progress: CopyProgress | None,
) -> None:
    stmt = select(table).order_by(*table.primary_key.columns)
    result = await reader.stream(stmt.execution_options(yield_per=batch_size))
    async for rows in result.partitions(batch_size):
        batch: list[dict[str, Any]] = [dict(row._mapping) for row in rows]
        await writer.execute(insert(table), batch)
        if progress is not None:
            progress.advance(table.name, len(batch))
