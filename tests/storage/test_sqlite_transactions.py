"""What the SQLite store promises about transactions, now that `sqlean` (the `sqlite3` module
with a current SQLite) runs under it on
threads of the store's own: every write transaction starts with BEGIN IMMEDIATE, readers never
open one (and cannot write), and a write waiting for another process's lock holds up neither
reads nor the event loop. Concurrent writes are committed in groups, and a write that fails
in a group fails alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlean  # type: ignore[import-untyped]
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from tests.storage.test_background_jobs_contract import enqueue, finished, queued
from tests.storage.test_store_contract import (
    A,
    conversation,
    conversation_texts,
    msg,
    running,
    save,
    texts,
)
from threadline.errors import Conflict
from threadline.storage.base import TurnRecord, TurnStart
from threadline.storage.sql import SqlStore


@contextlib.contextmanager
def statements_on(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement.strip().split(None, 1)[0].upper())

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def in_driver_transaction(conn: Connection) -> bool:
    dbapi_connection = conn.connection.dbapi_connection
    assert isinstance(dbapi_connection, sqlean.Connection)
    return dbapi_connection.in_transaction


async def test_every_write_transaction_begins_immediate(sqlite_store: SqlStore) -> None:
    with statements_on(sqlite_store.write_engine) as seen:
        conv = await conversation(sqlite_store, "c0")
        await save(sqlite_store, ["i1"], ["o1"], conversation=conv)
        await sqlite_store.append_items(A, conv, [msg("added")], now=5.0)
    begins = [n for n, verb in enumerate(seen) if verb == "BEGIN"]
    assert len(begins) == 3 and begins[0] == 0
    assert seen.count("COMMIT") == 0  # committed by the driver, not a statement
    # Already inside the transaction when the operation's first statement runs.
    assert await sqlite_store.write(in_driver_transaction)


async def test_readers_never_open_a_transaction_and_cannot_write(sqlite_store: SqlStore) -> None:
    conv = await conversation(sqlite_store, "c0")
    rid = await save(sqlite_store, ["i1"], ["o1"], conversation=conv)
    with statements_on(sqlite_store.engine) as seen:
        assert texts(await sqlite_store.load_chain(A, rid)) == ["c0", "i1", "o1"]
        assert await conversation_texts(sqlite_store, conv) == ["c0", "i1", "o1"]
        assert await sqlite_store.get_response(A, rid) is not None
        page = await sqlite_store.list_conversation_items(A, conv, after=None, limit=2, order="asc")
        assert page is not None and page.has_more
    assert seen and set(seen) == {"SELECT", "WITH"}

    def read_then_look(conn: Connection) -> tuple[bool, int]:
        query_only = conn.exec_driver_sql("PRAGMA query_only").scalar()
        return in_driver_transaction(conn), int(query_only or 0)

    assert await sqlite_store.read(read_then_look) == (False, 1)
    with pytest.raises(OperationalError, match="readonly"):
        await sqlite_store.read(lambda conn: conn.execute(text("DELETE FROM items")))


async def test_reads_go_on_while_a_write_waits_for_another_process(
    sqlite_store: SqlStore, tmp_path: Path
) -> None:
    first = await save(sqlite_store, ["q1"], ["a1"])
    # The store's SQLite library: two copies of SQLite in one process do not see each other's
    # locks (POSIX locks are per process), as two processes do.
    other_process = sqlean.connect(tmp_path / "threadline.db", isolation_level=None)
    try:
        other_process.execute("BEGIN IMMEDIATE")  # holds the write lock
        waiting = asyncio.create_task(save(sqlite_store, ["q2"], ["a2"], previous=first))
        for _ in range(20):
            assert texts(await sqlite_store.load_chain(A, first)) == ["q1", "a1"]
        assert not waiting.done()
        other_process.execute("COMMIT")
    finally:
        other_process.close()
    second = await waiting
    assert texts(await sqlite_store.load_chain(A, second)) == ["q1", "a1", "q2", "a2"]


async def test_a_closed_store_opens_again_when_used(sqlite_store: SqlStore) -> None:
    rid = await save(sqlite_store, ["q"], ["a"])
    await sqlite_store.close()
    assert texts(await sqlite_store.load_chain(A, rid)) == ["q", "a"]
    again = await save(sqlite_store, ["q2"], ["a2"], previous=rid)
    assert texts(await sqlite_store.load_chain(A, again)) == ["q", "a", "q2", "a2"]


@contextlib.asynccontextmanager
async def writer_held(store: SqlStore) -> AsyncIterator[None]:
    """Keeps the writer thread busy for the block, so the writes it starts queue behind."""
    started, released = threading.Event(), threading.Event()

    def hold(_conn: Connection) -> None:
        started.set()
        released.wait(10)

    holding = asyncio.create_task(store.write(hold))
    await asyncio.to_thread(started.wait, 10)
    try:
        yield
    finally:
        released.set()
        await holding


def commits_on(engine: Engine) -> list[int]:
    commits: list[int] = []
    event.listen(engine, "commit", lambda _conn: commits.append(1))
    return commits


async def test_concurrent_writes_share_one_commit(sqlite_store: SqlStore) -> None:
    conv = await conversation(sqlite_store, "c0")
    commits = commits_on(sqlite_store.write_engine)
    async with writer_held(sqlite_store):
        saving = [
            asyncio.create_task(save(sqlite_store, [f"i{n}"], [f"o{n}"], conversation=conv))
            for n in range(30)
        ]
        await asyncio.sleep(0.05)
        assert not any(task.done() for task in saving)  # none is acknowledged before its commit
    await asyncio.gather(*saving)
    assert len(commits) == 2  # the held write's, then one for all 30 turns
    expected = ["c0"] + [text_ for n in range(30) for text_ in (f"i{n}", f"o{n}")]
    assert await conversation_texts(sqlite_store, conv) == expected


async def test_a_failing_write_fails_alone_and_its_group_is_kept(sqlite_store: SqlStore) -> None:
    conv = await conversation(sqlite_store, "c0")
    taken = await save(sqlite_store, ["first"], ["answer"])
    async with writer_held(sqlite_store):
        before = [asyncio.create_task(save(sqlite_store, ["b"], ["B"], conversation=conv))]
        duplicate = asyncio.create_task(
            save(sqlite_store, ["dup"], ["DUP"], conversation=conv, response_id=taken)
        )
        after = [asyncio.create_task(save(sqlite_store, ["a"], ["A"], conversation=conv))]
        await asyncio.sleep(0.05)
    with pytest.raises(Conflict):
        await duplicate
    await asyncio.gather(*before, *after)
    assert await conversation_texts(sqlite_store, conv) == ["c0", "b", "B", "a", "A"]


async def test_looking_at_an_empty_queue_or_outbox_takes_no_write_transaction(
    sqlite_store: SqlStore,
) -> None:
    # Every process looks at both at each poll (twice a second by default) and whenever a
    # background turn ends: an idle server never takes the database's write lock for it.
    with statements_on(sqlite_store.write_engine) as seen:
        assert await sqlite_store.take_jobs("worker", now=1.0, lease_until=2.0, limit=8) == []
        assert (
            await sqlite_store.take_webhook_deliveries("worker", now=1.0, lease_until=2.0, limit=8)
            == []
        )
    assert seen == []


def sync_levels_at_commit(engine: Engine) -> list[int]:
    """`PRAGMA synchronous` of each write transaction as it commits: 2 FULL (fsync), 1 NORMAL."""
    levels: list[int] = []

    def record(conn: Connection) -> None:
        driver = conn.connection.driver_connection
        assert driver is not None
        levels.append(int(driver.execute("PRAGMA synchronous").fetchone()[0]))

    event.listen(engine, "commit", record)
    return levels


async def test_a_turns_start_commits_without_fsync_and_its_end_with_it(
    sqlite_store: SqlStore,
) -> None:
    # The end's fsync of the WAL makes the start's frames durable too; until then the start is
    # committed (readers see it) and survives a crash of the process, not a power loss.
    levels = sync_levels_at_commit(sqlite_store.write_engine)
    rid = await save(sqlite_store, ["q"], ["a"], started=True)
    assert levels == [1, 2]
    await save(sqlite_store, ["q2"], ["a2"], previous=rid)
    assert levels == [1, 2, 2]
    assert texts(await sqlite_store.load_chain(A, rid)) == ["q", "a"]


async def test_a_group_holding_any_durable_write_commits_with_fsync(
    sqlite_store: SqlStore,
) -> None:
    levels = sync_levels_at_commit(sqlite_store.write_engine)
    async with writer_held(sqlite_store):
        start = TurnStart(running(), [msg("q")], owner="p", lease_until=9.0)
        starts = [
            asyncio.create_task(sqlite_store.start_turn(dataclasses.replace(start, response=r)))
            for r in (running(), running(), running())
        ]
        whole = asyncio.create_task(save(sqlite_store, ["q"], ["a"]))
        await asyncio.sleep(0.05)
    await asyncio.gather(*starts, whole)
    assert levels == [2, 2]  # the held write's, then the group's
    await sqlite_store.start_turn(TurnStart(running(), [msg("q")], owner="p", lease_until=9.0))
    assert levels == [2, 2, 1]


async def test_the_writer_connection_is_back_at_full_after_a_provisional_write(
    sqlite_store: SqlStore,
) -> None:
    await sqlite_store.start_turn(TurnStart(running(), [msg("q")], owner="p", lease_until=9.0))
    # The one writer connection, as a held transaction (the CLI's copy) gets it next.
    async with sqlite_store.transaction() as held:
        level = await held.run(lambda conn: conn.exec_driver_sql("PRAGMA synchronous").scalar())
    assert level == 2


async def test_a_jobs_take_commits_without_fsync_and_its_end_with_it(
    sqlite_store: SqlStore,
) -> None:
    # A taken job always ends in a durable write of the process that took it; a take lost
    # with the disk's cache leaves the job queued, to be taken again.
    await enqueue(sqlite_store, queued())
    levels = sync_levels_at_commit(sqlite_store.write_engine)
    [job] = await sqlite_store.take_jobs("p", now=1.0, lease_until=2.0, limit=1)
    assert levels == [1]
    done = TurnRecord(finished(job.response), job.inputs, [msg("a")], started=True, background=True)
    await sqlite_store.save_turn(done)
    assert levels == [1, 2]


async def test_a_take_after_a_job_queued_here_skips_the_look_at_the_queue(
    sqlite_store: SqlStore,
) -> None:
    # The look (a read) spares an idle poll the write lock; after a job queued through this
    # store there is one to take, unless another process took it (the take then finds none).
    await enqueue(sqlite_store, queued())
    with statements_on(sqlite_store.engine) as read:
        assert len(await sqlite_store.take_jobs("p", now=1.0, lease_until=2.0, limit=1)) == 1
        assert await sqlite_store.take_jobs("p", now=1.0, lease_until=2.0, limit=1) == []
    assert read == ["SELECT"]  # the second take's look only
    other = SqlStore(f"sqlite+aiosqlite:///{sqlite_store.write_engine.url.database}")
    try:
        await enqueue(sqlite_store, queued())
        assert len(await other.take_jobs("q", now=1.0, lease_until=2.0, limit=1)) == 1
        assert await sqlite_store.take_jobs("p", now=1.0, lease_until=2.0, limit=1) == []
    finally:
        await other.close()
