"""What only a PostgreSQL server can break: several processes starting together and writing
to one conversation at once (each SqlStore here stands for one replica, with its own pool),
connections that a database restart closed, and writes that deadlock.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from tests.postgres import needs_postgres, temporary_database, terminate_connections
from tests.storage.test_store_contract import A, conversation, conversation_texts, msg, save
from threadline.errors import ConversationDeleted, ResponseDeleted, StorageBusy
from threadline.ids import new_id
from threadline.storage.base import ResponseRecord, TurnRecord, TurnStart
from threadline.storage.factory import sqlalchemy_url
from threadline.storage.sql import SqlStore, engines, item_search
from threadline.storage.sql import conversations as sql_conversations
from threadline.storage.sql import responses as sql_responses
from threadline.storage.sql.migrate import head_revision

pytestmark = needs_postgres


@pytest.fixture
async def replicas() -> AsyncIterator[list[SqlStore]]:
    """Four stores on one fresh, never migrated database."""
    with temporary_database("replicas") as url:
        sa_url = sqlalchemy_url(url)
        assert sa_url is not None
        stores = [SqlStore(sa_url, pool_size=2, max_overflow=2) for _ in range(4)]
        try:
            yield stores
        finally:
            for store in stores:
                await store.close()


async def test_replicas_starting_together_migrate_once(replicas: list[SqlStore]) -> None:
    await asyncio.gather(*(store.migrate() for store in replicas))
    versions = await replicas[0].read(
        lambda conn: conn.execute(text("SELECT version_num FROM alembic_version")).all()
    )
    assert [tuple(row) for row in versions] == [(head_revision(),)]


async def test_replicas_writing_one_conversation_keep_every_turn_contiguous(
    replicas: list[SqlStore],
) -> None:
    first, second = replicas[0], replicas[1]
    await first.migrate()
    conv = await conversation(first, "seed")
    writes = []
    for n in range(20):
        replica = (first, second)[n % 2]
        writes.append(save(replica, [f"t{n}-in"], [f"t{n}-a", f"t{n}-b"], conversation=conv))
        writes.append(replica.append_items(A, conv, [msg(f"i{n}-x"), msg(f"i{n}-y")], now=n))
    await asyncio.gather(*writes)
    for reader in (first, second):
        history = await conversation_texts(reader, conv)
        assert len(history) == 1 + 20 * 5 and len(set(history)) == len(history)
        for n in range(20):
            start = history.index(f"t{n}-in")
            assert history[start : start + 3] == [f"t{n}-in", f"t{n}-a", f"t{n}-b"]
            start = history.index(f"i{n}-x")
            assert history[start + 1] == f"i{n}-y"


async def test_a_database_restart_while_idle_costs_a_reconnect_not_a_failed_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with temporary_database("restart") as url:
        sa_url = sqlalchemy_url(url)
        assert sa_url is not None
        store = SqlStore(sa_url, pool_size=2)
        try:
            await store.migrate()
            conv = await conversation(store, "c0")
            terminate_connections(url)
            monkeypatch.setattr(engines, "IDLE_PING_S", 0.0)  # every pooled one is now idle
            assert await conversation_texts(store, conv) == ["c0"]
            assert await store.append_items(A, conv, [msg("c1")], now=1.0)
            assert await conversation_texts(store, conv) == ["c0", "c1"]
        finally:
            await store.close()


async def test_writes_that_deadlock_are_run_again_and_both_succeed(
    replicas: list[SqlStore],
) -> None:
    first, second = replicas[0], replicas[1]
    await first.migrate()
    conversations = [await conversation(first, "seed") for _ in range(2)]
    runs: list[str] = []

    def lock_in_order(conn: Connection, order: list[str], name: str) -> str:
        runs.append(name)
        for n, conversation_id in enumerate(order):
            conn.execute(
                text("UPDATE conversations SET last_active_at = last_active_at + 1 WHERE id = :id"),
                {"id": conversation_id},
            )
            if n == 0:  # both hold their first row when they ask for the second
                conn.execute(text("SELECT pg_sleep(0.3)"))
        return name

    done = await asyncio.gather(
        first.write(lock_in_order, conversations, "forward"),
        second.write(lock_in_order, conversations[::-1], "backward"),
    )
    assert done == ["forward", "backward"]
    assert len(runs) == 3  # PostgreSQL aborted one of the two; it ran again
    for conversation_id in conversations:
        record = await first.get_conversation(A, conversation_id)
        assert record is not None and record.last_active_at == 100.0 + 2


@contextlib.asynccontextmanager
async def migrated_store(name: str, *, pool_size: int) -> AsyncIterator[SqlStore]:
    """A store with `pool_size` connections and no overflow, on a fresh migrated database."""
    with temporary_database(name) as url:
        sa_url = sqlalchemy_url(url)
        assert sa_url is not None
        store = SqlStore(sa_url, pool_size=pool_size, max_overflow=0)
        await store.migrate()
        try:
            yield store
        finally:
            await store.close()


@pytest.fixture
async def pg_store() -> AsyncIterator[SqlStore]:
    async with migrated_store("round_trips", pool_size=2) as store:
        yield store


@contextlib.contextmanager
def round_trips(store: SqlStore) -> Iterator[list[str]]:
    """What the store sends PostgreSQL: each statement's verb, and BEGIN and COMMIT (a read
    runs in autocommit, so it sends neither)."""
    sent: list[str] = []
    engine = store.write_engine  # the reader is a view of its pool: its events reach here

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        sent.append(sql.strip().split(None, 1)[0].upper())

    def begin(conn: Connection) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            sent.append("BEGIN")

    listeners = [("before_cursor_execute", statement), ("begin", begin)]
    listeners.append(("commit", lambda _conn: sent.append("COMMIT")))
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        yield sent
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)


async def test_round_trips_per_turn_are_one_to_read_the_context_and_one_per_write(
    pg_store: SqlStore,
) -> None:
    """Issue 20's target: one round trip to read a turn's context, one for each of its writes
    (its start and its end), in a chain and in a conversation: each write is one statement in
    autocommit, so there is no BEGIN and no COMMIT either."""
    first = await save(pg_store, ["hello"], ["hi"])

    async def turn(previous: str | None, conversation_id: str | None) -> list[list[str]]:
        record = ResponseRecord(
            new_id("resp"),
            A,
            1000.0,
            "in_progress",
            "m",
            {},
            previous_response_id=previous,
            conversation_id=conversation_id,
        )
        phases = []
        with round_trips(pg_store) as sent:
            if conversation_id is not None:
                await pg_store.load_conversation(A, conversation_id)
            else:
                assert previous is not None
                await pg_store.load_chain(A, previous)
            phases.append(list(sent))
            sent.clear()
            await pg_store.start_turn(TurnStart(record, [msg("in")], "owner", 2000.0))
            phases.append(list(sent))
            sent.clear()
            record.status, record.completed_at = "completed", 1001.0
            done = TurnRecord(
                record,
                [msg("in")],
                [msg("out")],
                append_to_conversation=conversation_id is not None,
                started=True,
            )
            await pg_store.save_turn(done)
            phases.append(list(sent))
        return phases

    read, start, end = await turn(first, None)
    assert len(read) == 1 and read[0] in ("WITH", "SELECT")
    assert start == ["WITH"]
    assert end == ["WITH"]

    conv = await conversation(pg_store, "c0")
    read, start, end = await turn(None, conv)
    assert read == ["SELECT"]
    assert start == ["WITH"]
    assert end == ["WITH"]


async def test_a_turn_that_ended_before_its_start_was_written_is_one_statement(
    pg_store: SqlStore,
) -> None:
    """A turn not streamed that ends quickly is written whole (running_turns.py): one round
    trip too, in a chain, appended to a conversation, and failed in one (its claim let go)."""
    first = await save(pg_store, ["hello"], ["hi"])
    conv = await conversation(pg_store, "c0")

    async def whole(status: str, **where: str) -> list[str]:
        record = ResponseRecord(new_id("resp"), A, 1000.0, status, "m", {}, **where)
        if "conversation_id" in where:
            claimed = await pg_store.claim_conversation(
                A, where["conversation_id"], record.id, now=1.0, lease_until=9e9
            )
            assert claimed == "claimed"
        turn = TurnRecord(
            record,
            [msg("in")],
            [msg("out")],
            append_to_conversation="conversation_id" in where and status == "completed",
        )
        with round_trips(pg_store) as sent:
            await pg_store.save_turn(turn)
        stored = await pg_store.get_response(A, record.id)
        assert stored is not None and stored.record.status == status
        return sent

    assert await whole("completed", previous_response_id=first) == ["WITH"]
    assert await whole("completed", conversation_id=conv) == ["WITH"]
    assert await whole("failed", conversation_id=conv) == ["WITH"]
    assert await conversation_texts(pg_store, conv) == ["c0", "in", "out"]
    # The failed turn let go of its claim: the next one takes it.
    other = new_id("resp")
    assert await pg_store.claim_conversation(A, conv, other, now=2.0, lease_until=3.0) == "claimed"


async def test_a_whole_turn_written_while_its_conversation_is_deleted_writes_nothing(
    pg_store: SqlStore,
) -> None:
    conv = await conversation(pg_store, "c0")
    record = ResponseRecord(new_id("resp"), A, 1000.0, "completed", "m", {}, conversation_id=conv)
    assert (
        await pg_store.claim_conversation(A, conv, record.id, now=1.0, lease_until=9e9) == "claimed"
    )
    turn = TurnRecord(record, [msg("q")], [msg("a")], append_to_conversation=True)
    async with pg_store.transaction() as held:
        await held.run(sql_conversations.delete_conversation, A, conv)
        saving = asyncio.ensure_future(pg_store.save_turn(turn))
        await asyncio.sleep(0.3)
        assert not saving.done()  # waiting for the deletion's lock
    with pytest.raises(ConversationDeleted):
        await saving
    assert await pg_store.get_response(A, record.id) is None


async def _end_while_held(
    store: SqlStore, delete: Any, *args: Any, conversation_id: str, response: ResponseRecord
) -> BaseException | None:
    """End a started conversation turn while another transaction runs `delete(*args)` and
    holds its locks; commit it once the end waits; what the end raised."""
    record = dataclasses.replace(response, status="completed", completed_at=1001.0)
    turn = TurnRecord(record, [msg("q")], [msg("a")], append_to_conversation=True, started=True)
    async with store.transaction() as held:
        await held.run(delete, *args)
        ending = asyncio.ensure_future(store.save_turn(turn))
        await asyncio.sleep(0.3)
        assert not ending.done()  # waiting for the deletion's locks
    try:
        await ending
    except Exception as exc:
        return exc
    return None


async def _started_conversation_turn(store: SqlStore) -> tuple[str, ResponseRecord]:
    conv = await conversation(store, "c0")
    record = ResponseRecord(new_id("resp"), A, 1000.0, "in_progress", "m", {}, conversation_id=conv)
    assert await store.claim_conversation(A, conv, record.id, now=1.0, lease_until=9e9) == "claimed"
    await store.start_turn(TurnStart(record, [msg("q")], "owner", 2000.0))
    return conv, record


async def test_a_turn_ending_while_its_conversation_is_deleted_says_the_conversation_was(
    pg_store: SqlStore,
) -> None:
    conv, record = await _started_conversation_turn(pg_store)
    raised = await _end_while_held(
        pg_store,
        sql_conversations.delete_conversation,
        A,
        conv,
        conversation_id=conv,
        response=record,
    )
    assert isinstance(raised, ConversationDeleted)
    assert await pg_store.get_response(A, record.id) is None


async def test_a_turn_ending_while_its_response_is_deleted_leaves_the_conversation_untouched(
    pg_store: SqlStore,
) -> None:
    conv, record = await _started_conversation_turn(pg_store)
    before = await pg_store.get_conversation(A, conv)
    raised = await _end_while_held(
        pg_store,
        sql_responses.delete_response,
        A,
        record.id,
        conversation_id=conv,
        response=record,
    )
    assert isinstance(raised, ResponseDeleted)
    assert await conversation_texts(pg_store, conv) == ["c0"]
    after = await pg_store.get_conversation(A, conv)
    assert after == before
    # Its claim was not let go (nothing of the turn was written): the next turn waits for it.
    other = new_id("resp")
    assert await pg_store.claim_conversation(A, conv, other, now=2.0, lease_until=3.0) == "locked"


async def test_an_operation_that_finds_no_free_connection_in_time_is_a_503_to_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engines, "POOL_TIMEOUT_S", 0.2)
    async with migrated_store("busy", pool_size=1) as store:
        async with store.transaction():  # holds the pool's one connection
            with pytest.raises(StorageBusy) as read:
                await store.get_response(A, "resp_x")
            with pytest.raises(StorageBusy):
                await save(store, ["q"], ["a"])
        assert read.value.status_code == 503 and read.value.headers["Retry-After"] == "1"
        assert "database_pool_size" in str(read.value)
        assert await store.get_response(A, "resp_x") is None  # free again


async def test_inserts_of_rows_ask_the_server_for_nothing_back(pg_store: SqlStore) -> None:
    """A plain insert compiled for PostgreSQL would carry `RETURNING items.seq` (the generated
    key SQLAlchemy fetches for one row), which nothing reads: each row's key would cross the
    wire for nothing."""
    inserts: list[str] = []

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql.lstrip().upper().startswith("INSERT"):
            inserts.append(sql)

    event.listen(pg_store.write_engine, "before_cursor_execute", statement)
    try:
        await save(pg_store, ["hello"], ["hi"])
        await conversation(pg_store, "an item")
    finally:
        event.remove(pg_store.write_engine, "before_cursor_execute", statement)
    assert any("INTO items" in sql for sql in inserts)
    assert [sql for sql in inserts if "RETURNING" in sql.upper()] == []


async def test_indexing_new_items_reads_only_the_recent_part_of_the_index(
    pg_store: SqlStore,
) -> None:
    """The search index takes new items in batches (item_search.py); finding them must read the
    index's keys above the look-back bound only, not all of them, whose number grows with every
    item ever stored. Sequential scans are off, so the plan shows the index reads it makes."""
    for n in range(3):
        await save(pg_store, [f"question {n}"], [f"answer {n}"])

    def plan(conn: Connection) -> list[dict[str, Any]]:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        explained = conn.execute(
            text(f"EXPLAIN (FORMAT JSON) {item_search._UNINDEXED_POSTGRES.text}"),
            {"lookback": item_search._LOOKBACK, "batch": item_search.INDEX_BATCH},
        ).scalar_one()
        # The InitPlans (the bound: the highest key, one read) left out.
        nodes, found = [explained[0]["Plan"]], []
        while nodes:
            node = nodes.pop()
            nodes += [p for p in node.get("Plans", []) if p["Parent Relationship"] != "InitPlan"]
            found.append(node)
        return found

    nodes = await pg_store._db.write(plan)
    words = [n for n in nodes if n.get("Relation Name") == "item_words"]
    assert words, nodes
    for node in words:
        assert "seq >" in node.get("Index Cond", node.get("Recheck Cond", "")), node
