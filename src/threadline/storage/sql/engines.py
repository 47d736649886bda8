"""Engines for a SQL store: a reader and a writer, tuned per database.

SQLite runs on `sqlean` (the standard library's `sqlite3` module, built with a current SQLite
that can load extensions, which many Python builds' `sqlite3` cannot) through SQLAlchemy's
synchronous pysqlite dialect; every connection loads `sqlite-vec`, whose distance functions
rank vector-store chunks inside the database. The dialect is driven from threads of the
store's own (databases.py), so a whole store operation is one call into a thread instead of a
thread round trip per statement. SQLite allows one writer
at a time: writes go through a one-connection engine used by one thread, so concurrent writers
of this process queue in that thread instead of polling a file lock; each write transaction
starts with BEGIN IMMEDIATE, so a writer in another process (the CLI next to a running server)
waits on `busy_timeout` instead of failing with SQLITE_BUSY when a read lock cannot be
upgraded. Readers use their own connections and, in WAL mode, never wait for the writer.
Every connection runs with `synchronous=FULL`: a turn acknowledged is a turn on disk.
Engines hide statement parameters from their errors: those are prompts and outputs, and an
error is logged. An SQLite database whose files this process cannot write is refused at open.

`sqlite3` would open transactions by itself (before an INSERT, say); every connection turns
that off (`isolation_level = None`), so the writer's transactions are exactly the ones the
"begin" event opens with BEGIN IMMEDIATE, and readers, which are also `query_only`, run in
autocommit mode: a one-statement read is exactly one statement (no BEGIN), which the
single-round-trip tests count, and no reader ever holds a write transaction.

PostgreSQL goes through asyncpg and SQLAlchemy's async engine: one pool of `pool_size`
connections (plus `max_overflow` under load), its own transactions and row locks. Readers share
that pool in autocommit mode, so a read is its statement alone (no BEGIN/COMMIT round trips);
writers use transactions.

A PostgreSQL connection that sat in the pool for `IDLE_PING_S` or more is pinged before use, and
replaced if the ping fails, so a database restarted (or failed over) while the server was quiet
costs a reconnect, not a failed request. SQLAlchemy's `pool_pre_ping` would ping on every
checkout: with asyncpg that is BEGIN, a query and ROLLBACK, three round trips before a
one-statement read. A connection that breaks while busy fails its request, and SQLAlchemy then
replaces every connection older than the failure.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import sqlean  # type: ignore[import-untyped]
import sqlite_vec  # type: ignore[import-untyped]
from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from threadline.storage.sql import writer_lock

BUSY_TIMEOUT_MS = 30_000
_LOCK_POLL_MIN_S = 0.0001
_LOCK_POLL_MAX_S = 0.002
POOL_TIMEOUT_S = 30
IDLE_PING_S = 10.0


def server_engines(
    url: URL, *, pool_size: int, max_overflow: int
) -> tuple[AsyncEngine, AsyncEngine]:
    """The (reader, writer) engines of a server database: one pool of `pool_size` +
    `max_overflow` connections, the reader being its autocommit view."""
    writer = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=POOL_TIMEOUT_S,
        hide_parameters=True,
    )
    _ping_idle_connections(writer)
    return writer.execution_options(isolation_level="AUTOCOMMIT"), writer


def sqlite_engines(url: URL, *, readers: int) -> tuple[Engine, Engine]:
    """The (reader, writer) engines of an SQLite file, on the pysqlite driver whatever driver
    `url` names. The writer has one connection; the reader one per reader thread, plus as many
    again for connections held longer (a copy's snapshot)."""
    _require_sqlite_file(url)
    require_writable_sqlite_files(Path(url.database or ""))
    sync_url = url.set(drivername="sqlite+pysqlite")
    writer = create_engine(
        sync_url,
        module=sqlean,
        pool_size=1,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT_S,
        hide_parameters=True,
    )
    reader = create_engine(
        sync_url,
        module=sqlean,
        pool_size=readers,
        max_overflow=readers,
        pool_timeout=POOL_TIMEOUT_S,
        hide_parameters=True,
    )
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


class SqliteFilesNotWritable(ValueError):
    """The database, its directory or the files beside it (-wal, -shm, -writers) cannot be
    written by this process."""


def require_writable_sqlite_files(database: Path) -> None:
    """Refuse, naming the file and the remedy, a database this process could not write.
    SQLite shares its -shm file through a memory mapping: one this process cannot write fails
    every write far from its cause, and a mapping SQLite cannot back kills the process with
    SIGBUS, with no log line."""
    who = f"this process (uid {os.getuid()})"
    directory = database.parent
    if not os.access(directory, os.W_OK | os.X_OK):
        raise SqliteFilesNotWritable(
            f"{directory} is not writable by {who}; SQLite creates the database's -wal and "
            "-shm files there. Run the server as the directory's owner, or make it writable."
        )
    beside = ("-wal", "-shm", writer_lock.SUFFIX)
    for path in (database, *(database.with_name(database.name + s) for s in beside)):
        if not os.path.lexists(path):
            continue
        if not path.is_file():
            raise SqliteFilesNotWritable(
                f"{path} is not a regular file; SQLite needs to create its own there. Remove it "
                "(with no Threadline process running)."
            )
        try:
            os.close(os.open(path, os.O_RDWR))
        except OSError as exc:
            raise SqliteFilesNotWritable(
                f"{path} cannot be opened for writing by {who}: {exc.strerror}. Run the server "
                "as the file's owner, or give it write access (chown/chmod). A -shm or "
                f"{writer_lock.SUFFIX} file may also be removed while no Threadline process "
                "runs (each is made again); never remove a -wal file: it holds committed turns."
            ) from exc


def _configure_sqlite(engine: Engine, *, begin: str | None, query_only: bool) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not issue BEGIN itself: the writer's BEGIN IMMEDIATE replaces it, and
        # readers run without a transaction.
        dbapi_connection.isolation_level = None
        dbapi_connection.enable_load_extension(True)
        sqlite_vec.load(dbapi_connection)
        dbapi_connection.enable_load_extension(False)
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            "foreign_keys=ON",
            f"busy_timeout={BUSY_TIMEOUT_MS if begin is None else 0}",
            f"query_only={'ON' if query_only else 'OFF'}",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    if begin is not None:
        statement = begin

        @event.listens_for(engine, "begin")
        def on_begin(conn: Connection) -> None:
            _begin_when_free(conn, statement)


def _begin_when_free(conn: Connection, statement: str) -> None:
    """Open the write transaction, waiting for another process's writer in steps of at most
    `_LOCK_POLL_MAX_S`. The writer connection's own busy_timeout is 0: SQLite's busy handler
    sleeps up to 100 ms between tries, which made a write queued behind another process's
    (`serve --workers 2`) wait up to 1.4 s at p99 for a lock held for a millisecond. The store's
    writers first take turns on a file lock (writer_lock.py), so this waits only for writers
    that do not take it."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = _LOCK_POLL_MIN_S
    while True:
        try:
            conn.exec_driver_sql(statement)
            return
        except OperationalError as exc:
            if not _is_locked(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, _LOCK_POLL_MAX_S)


def _is_locked(exc: OperationalError) -> bool:
    return "database is locked" in str(exc.orig) or "database is busy" in str(exc.orig)
