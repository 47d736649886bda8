"""The SQL store keeps recent contexts in memory (storage/sql/context_cache.py). Whatever
happens to the history, through this store or another process on the same database, a context
it serves is the one a store without the cache reads from the database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from tests.storage.test_store_contract import (
    A,
    conversation,
    msg,
    save,
    statements_on,
    texts,
    url_of,
)
from threadline.storage.sql import SqlStore


@pytest.fixture
async def replica(sql_store: SqlStore) -> AsyncIterator[SqlStore]:
    """A second store on the same database, as another server process would open it."""
    other = SqlStore(url_of(sql_store))
    yield other
    await other.close()


@pytest.fixture
async def uncached(sql_store: SqlStore) -> AsyncIterator[SqlStore]:
    reference = SqlStore(url_of(sql_store), context_cache_bytes=0)
    yield reference
    await reference.close()


async def same_contexts(
    cached: SqlStore, reference: SqlStore, chains: list[str], conversations: list[str]
) -> None:
    for response_id in chains:
        assert await cached.load_chain(A, response_id) == await reference.load_chain(
            A, response_id
        ), response_id
    for conversation_id in conversations:
        assert await cached.load_conversation(
            A, conversation_id
        ) == await reference.load_conversation(A, conversation_id), conversation_id


async def test_a_continued_chain_is_served_without_reading_its_items(sql_store: SqlStore) -> None:
    r1 = await save(sql_store, ["q1"], ["a1"])
    assert texts(await sql_store.load_chain(A, r1)) == ["q1", "a1"]
    r2 = await save(sql_store, ["q2"], ["a2"], previous=r1)
    conv = await conversation(sql_store, "c0")
    await sql_store.load_conversation(A, conv)
    await save(sql_store, ["i1"], ["o1"], conversation=conv)
    with statements_on(sql_store.engine) as seen:
        assert texts(await sql_store.load_chain(A, r2)) == ["q1", "a1", "q2", "a2"]
        loaded = await sql_store.load_conversation(A, conv)
    assert loaded is not None and texts(loaded[1]) == ["c0", "i1", "o1"]
    assert len(seen) == 2  # one small read each: no item rows


async def test_contexts_follow_every_change_made_here_or_by_another_process(
    sql_store: SqlStore, replica: SqlStore, uncached: SqlStore
) -> None:
    conv = await conversation(sql_store, "c0", "c1")
    t1 = await save(sql_store, ["i1"], ["o1"], conversation=conv)
    r1 = await save(sql_store, ["q1"], ["a1"])
    r2 = await save(sql_store, ["q2"], ["a2"], previous=r1)
    r3 = await save(sql_store, ["q3"], ["a3"], previous=r2)
    from_turn = await save(sql_store, ["f1"], ["g1"], previous=t1)
    chains, conversations = [t1, r1, r2, r3, from_turn], [conv]
    await same_contexts(sql_store, uncached, chains, conversations)  # now cached

    changes = [
        lambda: replica.append_items(A, conv, [msg("appended")], now=2000.0),
        lambda: save(replica, ["i2"], ["o2"], conversation=conv),
        lambda: replica.delete_conversation_item(A, conv, first_item_id),
        lambda: replica.delete_response(A, r2),
        lambda: sql_store.delete_response(A, t1),
        lambda: replica.delete_responses_created_before(1500.0),
    ]
    loaded = await uncached.load_conversation(A, conv)
    assert loaded is not None
    first_item_id = loaded[1][0]["id"]
    for change in changes:
        await change()
        await same_contexts(sql_store, uncached, chains, conversations)


async def test_turns_saved_by_another_process_are_read_not_guessed(
    sql_store: SqlStore, replica: SqlStore, uncached: SqlStore
) -> None:
    conv = await conversation(sql_store, "c0")
    await save(sql_store, ["i1"], ["o1"], conversation=conv)
    await sql_store.load_conversation(A, conv)  # cached with the first turn
    await save(replica, ["i2"], ["o2"], conversation=conv)
    mine = await save(sql_store, ["i3"], ["o3"], conversation=conv)  # cannot extend the copy
    await same_contexts(sql_store, uncached, [mine], [conv])
    assert texts((await sql_store.load_conversation(A, conv) or (None, []))[1]) == [
        "c0",
        "i1",
        "o1",
        "i2",
        "o2",
        "i3",
        "o3",
    ]


async def test_contexts_over_the_size_bound_are_not_kept(sql_store: SqlStore) -> None:
    small = SqlStore(url_of(sql_store), context_cache_bytes=1)
    try:
        r1 = await save(small, ["q1"], ["a1"])
        assert texts(await small.load_chain(A, r1)) == ["q1", "a1"]
        with statements_on(small.engine) as seen:
            assert texts(await small.load_chain(A, r1)) == ["q1", "a1"]
        assert len(seen) == 1  # the chain again, read with the generation
    finally:
        await small.close()


async def test_without_its_state_row_the_store_serves_nothing_from_memory(
    sql_store: SqlStore, uncached: SqlStore
) -> None:
    await sql_store.write(lambda conn: conn.execute(text("DELETE FROM store_state")))
    r1 = await save(sql_store, ["q1"], ["a1"])
    r2 = await save(sql_store, ["q2"], ["a2"], previous=r1)
    r3 = await save(sql_store, ["q3"], ["a3"], previous=r2)
    conv = await conversation(sql_store, "c0", "c1")
    await same_contexts(sql_store, uncached, [r3], [conv])
    loaded = await uncached.load_conversation(A, conv)
    assert loaded is not None
    await sql_store.delete_response(A, r2)
    await sql_store.delete_conversation_item(A, conv, loaded[1][0]["id"])
    await same_contexts(sql_store, uncached, [r3], [conv])
