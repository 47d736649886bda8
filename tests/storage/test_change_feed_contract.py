"""The change feed part of the storage contract, on every backend: every change to a response,
a conversation, a conversation's items or a stored completion is entered in its tenant's feed;
a reader resuming from the last position it was given sees each change once, as the object is
now, and every delete as a tombstone."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text

from tests.storage.test_background_jobs_contract import queued
from tests.storage.test_completions_contract import completion
from tests.storage.test_store_contract import A, B, conversation, ended, msg, running, save
from threadline.storage.base import QueuedTurn, Store, TurnRecord, TurnStart
from threadline.storage.changes import FEED_START, Change, ChangePosition
from threadline.storage.sql import SqlStore


async def read_all(
    store: Store,
    tenant: str = A,
    after: ChangePosition = FEED_START,
    since: float | None = None,
    *,
    settle: bool = True,
) -> tuple[list[Change], ChangePosition]:
    if settle:
        await settled(store)
    found: list[Change] = []
    while True:
        page = await store.read_changes(tenant, after=after, since=since, limit=3)
        found += page.changes
        if not page.changes:
            return found, page.next
        after = page.next


async def settled(store: Store) -> None:
    """On PostgreSQL, wait until every transaction that started before now has ended: the feed
    holds back changes newer than any transaction running on the cluster, another test's (in
    another database) included."""
    if not (isinstance(store, SqlStore) and store.engine.dialect.name == "postgresql"):
        return
    begun = await store.read(
        lambda c: int(c.scalar(text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")))
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        horizon = await store.read(
            lambda c: int(c.scalar(text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")))
        )
        if horizon >= begun:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("a transaction on the test cluster ran for 30 s")


def keys(changes: list[Change]) -> list[tuple[str, str, bool]]:
    return [(c.kind, c.key, c.deleted) for c in changes]


async def test_a_first_read_returns_every_object_once_in_the_order_they_changed(
    store: Store,
) -> None:
    conv = await conversation(store, "hello")
    turn = await save(store, ["q"], ["a"], conversation=conv)
    done = completion()
    await store.save_completion(done)
    changes, _ = await read_all(store)
    # In the order of the writes; within one write, in an order of the backend's.
    assert keys(changes)[0] == ("conversation.item", f"{conv}:0", False)
    assert set(keys(changes)[1:-1]) == {
        ("response", turn, False),
        ("conversation.item", f"{conv}:1", False),
        ("conversation.item", f"{conv}:2", False),
        ("conversation", conv, False),
    }
    assert keys(changes)[-1] == ("chat.completion", done.id, False)
    items = sorted(
        (c for c in changes if c.kind == "conversation.item"),
        key=lambda c: c.conversation_position or 0,
    )
    assert [c.item and c.item["content"] for c in items] == [["hello"], ["q"], ["a"]]
    assert [(c.conversation_id, c.conversation_position) for c in items] == [
        (conv, 0),
        (conv, 1),
        (conv, 2),
    ]
    positions = [c.position for c in changes]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    # Each live entry comes with its object as it is now.
    objects = {c.kind: c for c in changes}
    response = objects["response"]
    assert response.response is not None and response.response.record.id == turn
    assert [i["content"] for i in response.response.output] == [["a"]]
    assert [i["content"] for i in response.input_items or []] == [["q"]]
    conversation_entry = objects["conversation"].conversation
    assert conversation_entry is not None and conversation_entry.id == conv
    assert objects["chat.completion"].completion == done


async def test_a_reader_resuming_from_its_position_sees_only_what_changed_since(
    store: Store,
) -> None:
    conv = await conversation(store, "hello")
    kept = await save(store, ["q"], ["a"])
    _, position = await read_all(store)
    assert (await store.read_changes(A, after=position, since=None, limit=10)).changes == []
    await store.update_conversation(A, conv, metadata={"topic": "x"})
    again, moved = await read_all(store, after=position)
    assert keys(again) == [("conversation", conv, False)] and moved > position
    assert kept not in [c.key for c in again]


async def test_an_object_changed_twice_appears_once_at_its_latest_position(store: Store) -> None:
    record, question = running(), msg("question")
    await store.start_turn(TurnStart(record, [question], owner="p1", lease_until=600.0))
    other = await save(store, ["x"], ["y"])
    await store.save_turn(TurnRecord(ended(record), [question], [msg("a")], started=True))
    changes, _ = await read_all(store)
    assert keys(changes) == [("response", other, False), ("response", record.id, False)]


async def test_deletes_leave_tombstones(store: Store) -> None:
    conv = await conversation(store, "one", "two")
    turn = await save(store, ["q"], ["a"])
    done = completion()
    await store.save_completion(done)
    _, position = await read_all(store)
    loaded = await store.load_conversation(A, conv)
    assert loaded is not None
    assert await store.delete_conversation_item(A, conv, loaded[1][0]["id"])
    assert await store.delete_response(A, turn)
    assert await store.delete_completion(A, done.id)
    changes, _ = await read_all(store, after=position)
    assert keys(changes) == [
        ("conversation.item", f"{conv}:0", True),
        ("response", turn, True),
        ("chat.completion", done.id, True),
    ]
    assert changes[0].item is None and changes[0].conversation_position == 0
    assert changes[1].response is None and changes[2].completion is None


async def test_a_deleted_conversation_leaves_tombstones_for_it_its_items_and_turns(
    store: Store,
) -> None:
    conv = await conversation(store, "one")
    turn = await save(store, ["q"], ["a"], conversation=conv)
    _, position = await read_all(store)
    assert await store.delete_conversation(A, conv)
    changes, _ = await read_all(store, after=position)
    assert set(keys(changes)) == {
        ("conversation", conv, True),
        ("response", turn, True),
        *{("conversation.item", f"{conv}:{n}", True) for n in range(3)},
    }


async def test_the_feed_is_per_tenant(store: Store) -> None:
    mine = await save(store, ["q"], ["a"])
    theirs = await save(store, ["q"], ["a"], tenant=B)
    assert keys((await read_all(store, A))[0]) == [("response", mine, False)]
    assert keys((await read_all(store, B))[0]) == [("response", theirs, False)]


async def test_since_returns_only_what_changed_at_or_after_it(store: Store) -> None:
    await save(store, ["old"], ["a"])
    await asyncio.sleep(0.01)
    cut = time.time()
    await asyncio.sleep(0.01)
    recent = await save(store, ["new"], ["a"])
    changes, _ = await read_all(store, since=cut)
    assert keys(changes) == [("response", recent, False)]
    assert all(c.changed_at >= cut for c in changes)


async def test_background_jobs_move_their_response_in_the_feed(store: Store) -> None:
    record = queued()
    await store.enqueue_turn(QueuedTurn(record, [msg("q")], {"input": "q"}))
    _, position = await read_all(store)
    assert await store.cancel_job(A, record.id) == "cancelled"
    changes, _ = await read_all(store, after=position)
    assert keys(changes) == [("response", record.id, False)]


async def test_retention_sweeps_and_expiry_are_entered(store: Store) -> None:
    conv = await conversation(store, at=100.0)
    old = await save(store, ["q"], ["a"], at=50.0)
    stale = completion(created_at=10.0)
    await store.save_completion(stale)
    _, position = await read_all(store)
    assert await store.expire_idle_conversations(idle_before=200.0, now=300.0) == 1
    assert await store.delete_responses_created_before(60.0) == 1
    assert await store.delete_completions_created_before(60.0) == 1
    changes, _ = await read_all(store, after=position)
    assert keys(changes) == [
        ("conversation", conv, False),
        ("response", old, True),
        ("chat.completion", stale.id, True),
    ]


async def test_forgetting_tombstones_drops_only_tombstones_older_than_the_cut(
    store: Store,
) -> None:
    kept = await save(store, ["q"], ["a"])
    gone = await save(store, ["q"], ["a"])
    assert await store.delete_response(A, gone)
    await asyncio.sleep(0.01)
    cut = time.time()
    late = await save(store, ["q"], ["a"])
    assert await store.delete_response(A, late)
    assert await store.forget_tombstones(cut) == 1
    changes, _ = await read_all(store)
    assert keys(changes) == [("response", kept, False), ("response", late, True)]


@pytest.mark.parametrize("sql_store", ["postgresql"], indirect=True)
async def test_a_change_that_commits_late_is_not_skipped_on_postgresql(
    sql_store: SqlStore,
) -> None:
    from sqlalchemy import update

    from threadline.storage.sql.tables import conversations

    conv = await conversation(sql_store, "one")
    _, position = await read_all(sql_store)
    async with sql_store.transaction() as slow:
        # Takes its transaction id (and a feed number) first, commits last.
        await slow.run(
            lambda conn: conn.execute(
                update(conversations).where(conversations.c.id == conv).values(metadata='{"a":"1"}')
            )
        )
        early = await save(sql_store, ["q"], ["a"])
        seen, position_then = await read_all(sql_store, after=position, settle=False)
        assert seen == []  # not past a transaction still running
    later, _ = await read_all(sql_store, after=position_then)
    assert keys(later) == [("conversation", conv, False), ("response", early, False)]


async def test_a_started_conversation_turn_enters_its_input_when_saved(store: Store) -> None:
    conv = await conversation(store, "seed")
    record, question = running(conversation=conv), msg("question")
    await store.start_turn(TurnStart(record, [question], owner="p1", lease_until=600.0))
    _, position = await read_all(store)
    saved = TurnRecord(
        ended(record), [question], [msg("a")], append_to_conversation=True, started=True
    )
    await store.save_turn(saved)
    changes, _ = await read_all(store, after=position)
    items = {c.key: c.item and c.item["content"] for c in changes if c.kind == "conversation.item"}
    assert items == {f"{conv}:1": ["question"], f"{conv}:2": ["a"]}
