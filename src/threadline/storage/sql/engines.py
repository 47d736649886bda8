"""Engines for a SQL store: a reader and a writer, tuned per database.

SQLite allows one writer at a time. Writes go through a dedicated one-connection engine, so
concurrent writers of this process queue in the pool instead of polling a file lock; each write
transaction starts with BEGIN IMMEDIATE, so a writer in another process (the CLI next to a
running server) waits on `busy_timeout` instead of failing with SQLITE_BUSY when a read lock
cannot be upgraded. Readers use their own pool and, in WAL mode, never wait for the writer.
Every connection runs with `synchronous=FULL`: a turn acknowledged is a turn on disk.

Reader connections run in the driver's autocommit mode, so a one-statement read is exactly one
statement on the wire (no BEGIN), which the single-round-trip tests count.

PostgreSQL needs none of this: one pool of `pool_size` connections (plus `max_overflow` under
load), its own transactions and row locks. Readers share that pool in autocommit mode, so a
read is its statement alone (no BEGIN/COMMIT round trips); writers use transactions.

A connection that sat in the pool for `IDLE_PING_S` or more is pinged before use, and replaced
if the ping fails, so a database restarted (or failed over) while the server was quiet costs a
reconnect, not a failed request. SQLAlchemy's `pool_pre_ping` would ping on every checkout:
with asyncpg that is BEGIN, a query and ROLLBACK, three round trips before a one-statement
read. A connection that breaks while busy fails its request, and SQLAlchemy then replaces every
connection older than the failure.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

BUSY_TIMEOUT_MS = 30_000
POOL_TIMEOUT_S = 30
IDLE_PING_S = 10.0


def create_engines(
    url: str, *, pool_size: int = 10, max_overflow: int = 10
) -> tuple[AsyncEngine, AsyncEngine]:
    """The (reader, writer) engines for `url`. On a server database both share one pool of
    `pool_size` + `max_overflow` connections; SQLite's pools are fixed (see above)."""
    sa_url = make_url(url)
    if sa_url.get_backend_name() != "sqlite":
        writer = create_async_engine(
            sa_url, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=POOL_TIMEOUT_S
        )
        _ping_idle_connections(writer)
        return writer.execution_options(isolation_level="AUTOCOMMIT"), writer
    _require_sqlite_file(sa_url)
    writer = create_async_engine(sa_url, pool_size=1, max_overflow=0, pool_timeout=POOL_TIMEOUT_S)
    reader = create_async_engine(sa_url, pool_size=5, max_overflow=10)
    _configure_sqlite(writer, begin="BEGIN IMMEDIATE", query_only=False)
    _configure_sqlite(reader, begin=None, query_only=True)
    return reader, writer


def _ping_idle_connections(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "checkin")
    def on_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def on_checkout(
        dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_S:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:
            # The pool discards this connection and checks out a new one.
            raise DisconnectionError("idle connection failed its ping") from exc


def _require_sqlite_file(url: URL) -> None:
    database = url.database or ""
    if (
        database in ("", ":memory:")
        or "mode=memory" in str(url)
        or database.startswith("file::memory:")
    ):
        raise ValueError(
            "SqlStore needs an SQLite file (its reader and writer are separate connections); "
            "use MemoryStore (memory://) for an in-memory store"
        )


def _configure_sqlite(engine: AsyncEngine, *, begin: str | None, query_only: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not issue BEGIN itself: the writer's BEGIN IMMEDIATE replaces it, and
        # readers run without a transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            "foreign_keys=ON",
            f"busy_timeout={BUSY_TIMEOUT_MS}",
            f"query_only={'ON' if query_only else 'OFF'}",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    if begin is not None:
        statement = begin

        @event.listens_for(engine.sync_engine, "begin")
        def on_begin(conn: Connection) -> None:
            conn.exec_driver_sql(statement)
