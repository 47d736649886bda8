"""How a store operation reaches the database: one synchronous function, run in one call.

Every operation of SqlStore is written once, as a plain function of a SQLAlchemy `Connection`
(responses.py, conversations.py, api_keys.py). A `Database` runs it:

- `read(fn, ...)`: on a connection in autocommit mode (no transaction, no BEGIN);
- `write(fn, ...)`: inside one transaction, committed when `fn` returns and rolled back when it
  raises, so an operation is atomic whatever it does.

SQLite (`SqliteDatabase`): the driver is blocking, so the function runs on a thread of the
store's own, awaited with one `run_in_executor`: one thread hop per operation, however many
statements it runs (through aiosqlite each execute, fetch and commit was a hop of its own).
Writes run on a single writer thread, which owns the one write connection; reads on a few reader
threads, each using its own connection, so reads neither wait for the writer (WAL) nor queue
behind a write that waits on another process's lock.

Writes are committed in groups: the writer takes every write queued when it becomes free and
runs them in one transaction, so concurrent turns share one BEGIN, one COMMIT and one fsync
instead of paying each (`_GroupCommit`). Each caller is answered only after the commit that
holds its write, so an acknowledged write is on disk exactly as before.
If any write of a group raises, the group is rolled back and its writes run again one
transaction each, so one failing write never takes the others with it. Each transaction holds
the database's writer lock (writer_lock.py), through which the writers of several processes
on one file take turns without polling SQLite's lock.

A provisional write (`write_provisional`: a turn's start, which its end always follows) is
committed without the fsync when no durable write shares its group (`synchronous=NORMAL`):
committed, seen by every reader and kept through a crash of the process (it is in the WAL, in
the operating system's cache), and made durable by the next durable commit, whose fsync of the
WAL covers every frame before its own. Only a power loss before that commit can lose it. It
saves a turn's path one of its two fsyncs (about 0.2 ms each here) when turns do not overlap.

PostgreSQL (`ServerDatabase`): the function runs in SQLAlchemy's greenlet bridge over asyncpg
(`AsyncConnection.run_sync`), on the event loop, where each statement is an awaited round trip
as before; only the code is shared. A write that PostgreSQL aborts as a deadlock victim (or a
serialization failure) is run again, whole, in a new transaction, up to `PG_WRITE_ATTEMPTS`
times: two writes that lock the same rows in opposite orders (a conversation deleted while a
retention sweep deletes its old turns) both succeed instead of one failing. An operation that
finds no pooled connection free within the pool's timeout raises `StorageBusy` (503, retry).
`write_statement(fn, ...)` runs a write of one statement in autocommit: its own transaction,
without the BEGIN and COMMIT round trips (a turn's start and end: turn_statements.py).

`snapshot()` and `transaction()` hold one connection across several calls, for work that
interleaves two databases (copy.py); the server's operations never use them.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection

from threadline.errors import StorageBusy
from threadline.storage.sql import engines
from threadline.storage.sql.engines import server_engines, sqlite_engines
from threadline.storage.sql.writer_lock import WriterLock

P = ParamSpec("P")
T = TypeVar("T")
log = logging.getLogger(__name__)

# Reader threads (and reader connections) of an SQLite store. Two, so one long read (a huge
# history) does not hold up the others. Not more: a read is mostly Python (SQLAlchemy, orjson)
# holding the GIL, and threads taking turns at it only wait for one another: at 16 concurrent
# `load_chain` calls, four readers had a p99 six times that of one or two, for no more reads
# per second.
SQLITE_READERS = 2

# Most writes one group commit holds: bounds how long the write lock is held at a time.
MAX_GROUP = 64

PG_WRITE_ATTEMPTS = 4
# SQLSTATEs after which the same transaction, run again, can succeed.
_PG_RETRYABLE = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


class HeldConnection(abc.ABC):
    """One connection held across calls (a snapshot or a transaction); calls run in order."""

    @abc.abstractmethod
    async def run(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T: ...


class Database(abc.ABC):
    """Runs store operations, each a function of a sync `Connection`; see the module docstring."""

    writes_in_order: bool = False
    """True when writes run in submission order (SQLite's one writer thread)."""

    statement_writes: bool = False
    """True when `write_statement` saves round trips over `write` (PostgreSQL), so that a write
    worth putting in one statement should be (turn_statements.py)."""

    @property
    @abc.abstractmethod
    def engine(self) -> Engine:
        """The (sync) engine whose connections serve reads: its events see every read."""

    @property
    @abc.abstractmethod
    def write_engine(self) -> Engine:
        """The (sync) engine whose connections write."""

    @abc.abstractmethod
    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(connection, ...)` on a reader connection (autocommit)."""

    @abc.abstractmethod
    async def write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(connection, ...)` in one write transaction, committed if `fn` returns."""

    async def write_statement(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(connection, ...)`, which sends exactly one statement, as its own transaction."""
        return await self.write(fn, *args, **kwargs)

    async def write_provisional(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Like `write`, for a write that a durable write of this process always follows: its
        commit may leave the flush to disk to that one (see the module docstring)."""
        return await self.write(fn, *args, **kwargs)

    @abc.abstractmethod
    def snapshot(self) -> AbstractAsyncContextManager[HeldConnection]:
        """A connection that sees the database as it was when it was opened (read-only)."""

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[HeldConnection]:
        """A write transaction held across calls, committed when the block exits cleanly."""

    @abc.abstractmethod
    async def close(self) -> None: ...


def open_database(url: URL, *, pool_size: int, max_overflow: int) -> Database:
    if url.get_backend_name() == "sqlite":
        return SqliteDatabase(url)
    return ServerDatabase(url, pool_size=pool_size, max_overflow=max_overflow)


# -- SQLite: sync engines on threads of their own ----------------------------------------------
def _run_read(engine: Engine, fn: Callable[..., T], args: Any, kwargs: Any) -> T:
    with engine.connect() as conn:
        return fn(conn, *args, **kwargs)


@dataclass(slots=True)
class _Write:
    fn: Callable[..., Any]
    args: Any
    kwargs: Any
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    durable: bool = True

    def settle(self, result: Any = None, error: BaseException | None = None) -> None:
        self.loop.call_soon_threadsafe(_settle, self.future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # its caller was cancelled; the write happened all the same
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class _GroupCommit:
    """Queued writes, committed in groups by the one writer thread (see the module docstring).

    Each `submit` queues its write and schedules one `_drain` on the writer thread; a drain
    takes everything queued so far, so the drains that follow a busy one find little or nothing
    left to do.
    """

    def __init__(self, engine: Engine, lock: WriterLock) -> None:
        self._engine = engine
        self._lock = lock
        self._queue: collections.deque[_Write] = collections.deque()

    def submit(self, thread: ThreadPoolExecutor, write: _Write) -> None:
        self._queue.append(write)
        thread.submit(self._drain)

    def _drain(self) -> None:
        group: list[_Write] = []
        while self._queue and len(group) < MAX_GROUP:
            group.append(self._queue.popleft())
        if not group:
            return
        durable = any(write.durable for write in group)
        try:
            # BEGIN IMMEDIATE (engines.py)
            with (
                self._lock.held(),
                self._engine.connect() as conn,
                _synchronous(conn, durable),
                conn.begin(),
            ):
                results = [w.fn(conn, *w.args, **w.kwargs) for w in group]
        except Exception as exc:
            if len(group) == 1:
                group[0].settle(error=exc)
                return
            for write in group:  # nothing of the group was kept: each on its own, in order
                self._run_alone(write)
            return
        for write, result in zip(group, results, strict=True):
            write.settle(result)

    def _run_alone(self, write: _Write) -> None:
        try:
            with (
                self._lock.held(),
                self._engine.connect() as conn,
                _synchronous(conn, write.durable),
                conn.begin(),
            ):
                result = write.fn(conn, *write.args, **write.kwargs)
        except Exception as exc:
            write.settle(error=exc)
        else:
            write.settle(result)


@contextlib.contextmanager
def _synchronous(conn: Connection, durable: bool) -> Iterator[None]:
    """A provisional group's transaction runs at `synchronous=NORMAL`, and the connection is
    back at FULL (its level, engines.py) once it ended, for whatever uses it next. SQLite
    refuses the change inside a transaction, and SQLAlchemy would begin one for a statement it
    runs, so the pragma goes to the driver's connection, around the transaction (1.2 µs each)."""
    if durable:
        yield
        return
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.execute("PRAGMA synchronous=NORMAL")
    try:
        yield
    finally:
        driver.execute("PRAGMA synchronous=FULL")


class SqliteDatabase(Database):
    writes_in_order = True

    def __init__(self, url: URL, *, readers: int = SQLITE_READERS) -> None:
        self._reader, self._writer = sqlite_engines(url, readers=readers)
        self._readers = readers
        self._writes = _GroupCommit(self._writer, WriterLock(Path(url.database or "")))
        self._read_threads, self._write_thread = self._threads()

    def _threads(self) -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
        # Threads start on first use, so a closed store's fresh pair costs nothing idle.
        return (
            ThreadPoolExecutor(self._readers, "threadline-sqlite-reader"),
            ThreadPoolExecutor(1, "threadline-sqlite-writer"),
        )

    @property
    def engine(self) -> Engine:
        return self._reader

    @property
    def write_engine(self) -> Engine:
        return self._writer

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._read_threads, _run_read, self._reader, fn, args, kwargs
        )

    async def write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._writes.submit(self._write_thread, _Write(fn, args, kwargs, future, loop))
        return await future

    async def write_provisional(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        write = _Write(fn, args, kwargs, future, loop, durable=False)
        self._writes.submit(self._write_thread, write)
        return await future

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[HeldConnection]:
        # The readers run without driver transactions; an explicit one pins a WAL snapshot
        # until the rollback that ends it.
        async with _ThreadHeldConnection(self._reader, "BEGIN") as held:
            yield held

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[HeldConnection]:
        async with _ThreadHeldConnection(self._writer, None) as held:
            yield held

    async def close(self) -> None:
        """Let queued work finish, then stop the threads and close the connections. Like a
        disposed engine, the store stays usable: a later call starts new threads and opens
        new connections."""
        retired = self._read_threads, self._write_thread
        self._read_threads, self._write_thread = self._threads()
        await asyncio.to_thread(self._retire, *retired)

    def _retire(self, *threads: ThreadPoolExecutor) -> None:
        for executor in threads:
            executor.shutdown(wait=True)
        self._writer.dispose()
        self._reader.dispose()


class _ThreadHeldConnection(HeldConnection):
    """A connection held on a thread of its own, not the store's: its calls come one after
    another from one task, and it must not occupy a thread the store's operations queue on.
    With `begin` None the engine's own transaction is used (BEGIN IMMEDIATE for the writer)
    and committed on a clean exit; otherwise `begin` opens one that is rolled back."""

    def __init__(self, engine: Engine, begin: str | None) -> None:
        self._engine = engine
        self._begin = begin
        self._thread = ThreadPoolExecutor(1, "threadline-sqlite-held")
        self._conn: Connection | None = None

    async def __aenter__(self) -> _ThreadHeldConnection:
        try:
            await self._call(self._open)
        except BaseException:
            self._thread.shutdown(wait=False)
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            await self._call(self._close, exc_type is None and self._begin is None)
        finally:
            self._thread.shutdown(wait=False)

    async def run(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        conn = self._conn
        if conn is None:
            raise RuntimeError("a held connection is used inside its `async with` block only")
        return await self._call(fn, conn, *args, **kwargs)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: fn(*args, **kwargs))

    def _open(self) -> None:
        conn = self._engine.connect()
        try:
            if self._begin is None:
                conn.begin()
            else:
                conn.exec_driver_sql(self._begin)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _close(self, commit: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if commit:
                conn.commit()
            else:
                conn.rollback()
        finally:
            conn.close()


# -- PostgreSQL: asyncpg through SQLAlchemy's async engine -------------------------------------
class ServerDatabase(Database):
    statement_writes = True

    def __init__(self, url: URL, *, pool_size: int, max_overflow: int) -> None:
        self._reader, self._writer = server_engines(
            url, pool_size=pool_size, max_overflow=max_overflow
        )
        self._pool_timeout = engines.POOL_TIMEOUT_S

    @property
    def engine(self) -> Engine:
        return self._reader.sync_engine

    @property
    def write_engine(self) -> Engine:
        return self._writer.sync_engine

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        try:
            async with self._reader.connect() as conn:
                return await conn.run_sync(fn, *args, **kwargs)
        except PoolTimeout:
            raise StorageBusy(self._pool_timeout) from None

    async def write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._retried(self._writer.begin, fn, *args, **kwargs)

    async def write_statement(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        # In autocommit the statement is its own transaction: no BEGIN or COMMIT round trip.
        return await self._retried(self._reader.connect, fn, *args, **kwargs)

    async def _retried(
        self,
        connect: Callable[[], AbstractAsyncContextManager[AsyncConnection]],
        fn: Callable[Concatenate[Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        for attempt in range(1, PG_WRITE_ATTEMPTS + 1):
            try:
                async with connect() as conn:
                    return await conn.run_sync(fn, *args, **kwargs)
            except PoolTimeout:
                raise StorageBusy(self._pool_timeout) from None
            except DBAPIError as exc:
                if attempt == PG_WRITE_ATTEMPTS or _sqlstate(exc) not in _PG_RETRYABLE:
                    raise
                log.info("write aborted by PostgreSQL (%s); attempt %d", _sqlstate(exc), attempt)
            # The other transaction holds its locks until it ends: give it a moment.
            await asyncio.sleep(random.uniform(0.005, 0.05) * attempt)
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[HeldConnection]:
        async with self._reader.connect() as conn:
            snapshot = await conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            async with snapshot.begin():
                yield _AsyncHeldConnection(snapshot)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[HeldConnection]:
        async with self._writer.begin() as conn:
            yield _AsyncHeldConnection(conn)

    async def close(self) -> None:
        # The reader is a view of the writer's pool: disposing the writer closes both.
        await self._writer.dispose()


def _sqlstate(exc: DBAPIError) -> str | None:
    """The SQLSTATE of a driver error, as asyncpg reports it through SQLAlchemy."""
    for error in (exc.orig, getattr(exc.orig, "__cause__", None)):
        code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


class _AsyncHeldConnection(HeldConnection):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def run(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._conn.run_sync(fn, *args, **kwargs)
