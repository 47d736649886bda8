"""The storage contract (threadline/storage/base.py), run unchanged on every backend.

Items are messages whose text names them, so an assertion reads as the history it expects.
The SQL-only tests at the end check what only a database can break: one statement per context
load, durability across reopening, migrations, and writers on one SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Connection, Engine

from threadline.errors import (
    Conflict,
    ConversationDeleted,
    InvalidRequest,
    PreviousResponseInProgress,
    ResponseDeleted,
)
from threadline.ids import new_id
from threadline.storage.base import (
    ApiKeyRecord,
    ConversationFilter,
    ConversationRecord,
    Item,
    ResponseRecord,
    Store,
    StoredResponse,
    TenantScope,
    TurnRecord,
    TurnStart,
)
from threadline.storage.factory import open_store, redacted, sqlalchemy_url
from threadline.storage.memory import MemoryStore
from threadline.storage.mongo import MongoStore
from threadline.storage.sql import SqlStore
from threadline.storage.sql import store as sql_store_module
from threadline.storage.sql.migrate import head_revision
from threadline.storage.sql.tables import items as item_table

A, B = "tenant-a", "tenant-b"


def msg(text_: str) -> Item:
    return {"id": new_id("msg"), "type": "message", "role": "user", "content": [text_]}


def texts(items: list[Item] | None) -> list[str]:
    assert items is not None
    return [item["content"][0] for item in items]


async def save(
    store: Store,
    inputs: list[str],
    outputs: list[str],
    *,
    tenant: str = A,
    previous: str | None = None,
    conversation: str | None = None,
    append: bool = True,
    at: float = 1000.0,
    response_id: str | None = None,
    started: bool = False,
) -> str:
    """Save a completed turn: whole, or (`started`) as the server does, stored `in_progress`
    with its input first, then ended."""
    record = ResponseRecord(
        id=response_id or new_id("resp"),
        tenant=tenant,
        created_at=at,
        status="completed",
        model="test-model",
        settings={"instructions": "be brief", "metadata": {"k": "v"}},
        previous_response_id=previous,
        conversation_id=conversation,
        usage={"input_tokens": 3, "output_tokens": 5},
        completed_at=at + 1,
    )
    inputs_, outputs_ = [msg(t) for t in inputs], [msg(t) for t in outputs]
    if started:
        running = dataclasses.replace(record, status="in_progress", usage=None, completed_at=None)
        await store.start_turn(TurnStart(running, inputs_, owner="p1", lease_until=at + 600))
    turn = TurnRecord(record, inputs_, outputs_, append_to_conversation=append, started=started)
    await store.save_turn(turn)
    return record.id


async def conversation(
    store: Store,
    *seed: str,
    tenant: str = A,
    at: float = 100.0,
    metadata: dict[str, str] | None = None,
) -> str:
    record = ConversationRecord(new_id("conv"), tenant, at, metadata or {}, last_active_at=at)
    await store.create_conversation(record, [msg(t) for t in seed])
    return record.id


async def conversation_texts(store: Store, conversation_id: str, tenant: str = A) -> list[str]:
    loaded = await store.load_conversation(tenant, conversation_id)
    assert loaded is not None
    return texts(loaded[1])


async def response(store: Store, response_id: str, tenant: str = A) -> StoredResponse:
    stored = await store.get_response(tenant, response_id)
    assert stored is not None
    return stored


async def conversation_record(store: Store, conversation_id: str) -> ConversationRecord:
    record = await store.get_conversation(A, conversation_id)
    assert record is not None
    return record


async def stored_item_count(store: Store) -> int:
    if isinstance(store, MemoryStore):
        return len(store._rows)
    if isinstance(store, MongoStore):
        return await store._items.count_documents({})
    assert isinstance(store, SqlStore)
    return await store.read(
        lambda conn: int(conn.scalar(select(func.count()).select_from(item_table)) or 0)
    )


# -- responses and chains ---------------------------------------------------------------------
async def test_saved_turn_reads_back_with_its_output(store: Store) -> None:
    rid = await save(store, ["hi"], ["hello", "there"])
    stored = await response(store, rid)
    assert texts(stored.output) == ["hello", "there"]
    assert stored.record.settings == {"instructions": "be brief", "metadata": {"k": "v"}}
    assert stored.record.usage == {"input_tokens": 3, "output_tokens": 5}
    assert (stored.record.model, stored.record.completed_at) == ("test-model", 1001.0)
    assert stored.record.error is None


async def test_load_chain_returns_items_oldest_response_first(store: Store) -> None:
    r1 = await save(store, ["q1"], ["a1"])
    r2 = await save(store, ["q2"], ["a2", "a2b"], previous=r1)
    r3 = await save(store, ["q3"], ["a3"], previous=r2)
    assert texts(await store.load_chain(A, r3)) == ["q1", "a1", "q2", "a2", "a2b", "q3", "a3"]
    assert texts(await store.load_chain(A, r1)) == ["q1", "a1"]
    assert await store.load_chain(A, "resp_unknown") is None


async def test_continuing_a_chain_writes_only_the_new_items(store: Store) -> None:
    r1 = await save(store, ["q1"], ["a1"])
    r2 = await save(store, ["q2"], ["a2"], previous=r1)
    assert await stored_item_count(store) == 4
    page = await store.list_input_items(A, r2, after=None, limit=10, order="asc")
    assert page is not None and texts(page.items) == ["q2"]


async def test_fork_shares_history_up_to_the_fork_point(store: Store) -> None:
    r1 = await save(store, ["q1"], ["a1"])
    left = await save(store, ["left"], ["l-answer"], previous=r1)
    right = await save(store, ["right"], ["r-answer"], previous=r1)
    assert texts(await store.load_chain(A, left)) == ["q1", "a1", "left", "l-answer"]
    assert texts(await store.load_chain(A, right)) == ["q1", "a1", "right", "r-answer"]
    assert await stored_item_count(store) == 6


async def test_chain_from_a_conversation_turn_starts_with_the_conversation_before_it(
    store: Store,
) -> None:
    conv = await conversation(store, "c0", "c1")
    t1 = await save(store, ["i1"], ["o1"], conversation=conv)
    await store.append_items(A, conv, [msg("added")], now=2000.0)
    t2 = await save(store, ["i2"], ["o2"], conversation=conv)
    r3 = await save(store, ["i3"], ["o3"], previous=t1)
    assert texts(await store.load_chain(A, r3)) == ["c0", "c1", "i1", "o1", "i3", "o3"]
    expected = ["c0", "c1", "i1", "o1", "added", "i2", "o2"]
    assert texts(await store.load_chain(A, t2)) == expected
    assert await conversation_texts(store, conv) == expected


async def test_get_items_finds_stored_items_by_id(store: Store) -> None:
    rid = await save(store, ["q"], ["a"])
    answer = (await response(store, rid)).output[0]
    found = await store.get_items(A, [answer["id"], "msg_missing"])
    assert found == {answer["id"]: answer}
    assert await store.get_items(A, []) == {}


async def test_an_item_sent_twice_is_found_as_first_written(store: Store) -> None:
    first = msg("original")
    record = ResponseRecord(new_id("resp"), A, 1.0, "completed", "m", {})
    await store.save_turn(TurnRecord(record, [first], []))
    again = ResponseRecord(new_id("resp"), A, 2.0, "completed", "m", {})
    await store.save_turn(TurnRecord(again, [{**first, "content": ["resent"]}], []))
    assert texts(list((await store.get_items(A, [first["id"]])).values())) == ["original"]


async def test_pages_follow_after_cursor_both_orders(store: Store) -> None:
    names = ["m0", "m1", "m2", "m3", "m4"]
    rid = await save(store, names, ["answer"])
    conv = await conversation(store, *names)
    for list_items, owner in ((store.list_input_items, rid), (store.list_conversation_items, conv)):
        for order, expected in (("asc", names), ("desc", names[::-1])):
            seen, after, more = [], None, True
            while more:
                page = await list_items(A, owner, after=after, limit=2, order=order)
                assert page is not None
                seen += texts(page.items)
                after, more = page.items[-1]["id"], page.has_more
            assert seen == expected
        assert await list_items(A, "missing", after=None, limit=2, order="asc") is None


async def test_unknown_after_cursor_is_rejected(store: Store) -> None:
    rid = await save(store, ["q"], ["a"])
    conv = await conversation(store, "c0")
    output_id = (await response(store, rid)).output[0]["id"]  # stored, but in neither list
    for list_items, owner in ((store.list_input_items, rid), (store.list_conversation_items, conv)):
        for after in ("msg_unknown", output_id):
            with pytest.raises(InvalidRequest) as raised:
                await list_items(A, owner, after=after, limit=5, order="asc")
            assert raised.value.param == "after"
    with pytest.raises(InvalidRequest):
        await store.list_conversations(A, ConversationFilter(), after="conv_unknown", limit=5)


async def test_delete_response_keeps_conversation_items(store: Store) -> None:
    conv = await conversation(store, "c0")
    turn = await save(store, ["i1"], ["o1"], conversation=conv)
    loose = await save(store, ["q"], ["a"], previous=turn)
    loose_items = (await response(store, loose)).output
    assert await store.delete_response(A, turn)
    assert await store.get_response(A, turn) is None
    assert await store.delete_response(A, turn) is False
    assert await conversation_texts(store, conv) == ["c0", "i1", "o1"]
    assert await store.delete_response(A, loose)
    assert await store.get_items(A, [loose_items[0]["id"]]) == {}
    assert await stored_item_count(store) == 3


async def test_deleting_a_conversation_item_keeps_it_in_its_response(store: Store) -> None:
    conv = await conversation(store, "c0", "c1")
    turn = await save(store, ["i1"], ["o1"], conversation=conv)
    loaded = await store.load_conversation(A, conv)
    assert loaded is not None
    c0, _, _, o1 = loaded[1]
    assert await store.get_conversation_item(A, conv, o1["id"]) == o1
    assert await store.delete_conversation_item(A, conv, c0["id"])
    assert await store.delete_conversation_item(A, conv, o1["id"])
    assert await store.delete_conversation_item(A, conv, o1["id"]) is False
    assert await store.get_conversation_item(A, conv, o1["id"]) is None
    assert await conversation_texts(store, conv) == ["c1", "i1"]
    assert texts((await response(store, turn)).output) == ["o1"]
    assert await store.get_items(A, [c0["id"]]) == {}


# -- turns stored when they start ------------------------------------------------------------
def running(response_id: str | None = None, conversation: str | None = None) -> ResponseRecord:
    return ResponseRecord(
        id=response_id or new_id("resp"),
        tenant=A,
        created_at=500.0,
        status="in_progress",
        model="test-model",
        settings={},
        conversation_id=conversation,
    )


def ended(record: ResponseRecord, status: str = "completed") -> ResponseRecord:
    return ResponseRecord(
        id=record.id,
        tenant=record.tenant,
        created_at=record.created_at,
        status=status,
        model=record.model,
        settings={"metadata": {"k": "v"}},
        conversation_id=record.conversation_id,
        usage={"input_tokens": 1, "output_tokens": 1},
        completed_at=510.0 if status == "completed" else None,
    )


async def test_a_started_turn_is_stored_in_progress_with_its_input(store: Store) -> None:
    record, question = running(), msg("question")
    await store.start_turn(TurnStart(record, [question], owner="p1", lease_until=600.0))
    stored = await response(store, record.id)
    assert stored.record.status == "in_progress" and stored.output == []
    page = await store.list_input_items(A, record.id, after=None, limit=10, order="asc")
    assert page is not None and texts(page.items) == ["question"]

    answer = msg("answer")
    await store.save_turn(TurnRecord(ended(record), [question], [answer], started=True))
    stored = await response(store, record.id)
    assert stored.record.status == "completed" and texts(stored.output) == ["answer"]
    assert stored.record.settings == {"metadata": {"k": "v"}}
    page = await store.list_input_items(A, record.id, after=None, limit=10, order="asc")
    assert page is not None and texts(page.items) == ["question"]  # written once
    assert texts(await store.load_chain(A, record.id)) == ["question", "answer"]


async def test_a_started_conversation_turn_joins_the_conversation_when_saved(
    store: Store,
) -> None:
    conv = await conversation(store, "c0")
    record = running(conversation=conv)
    question, answer = msg("q"), msg("a")
    await store.start_turn(TurnStart(record, [question], owner="p1", lease_until=600.0))
    assert await conversation_texts(store, conv) == ["c0"]
    await store.append_items(A, conv, [msg("added meanwhile")], now=505.0)
    await store.save_turn(
        TurnRecord(ended(record), [question], [answer], append_to_conversation=True, started=True)
    )
    assert await conversation_texts(store, conv) == ["c0", "added meanwhile", "q", "a"]
    assert texts(await store.load_chain(A, record.id)) == ["c0", "added meanwhile", "q", "a"]


async def test_continuing_a_running_response_is_refused(store: Store) -> None:
    record = running()
    await store.start_turn(TurnStart(record, [msg("q")], owner="p1", lease_until=600.0))
    with pytest.raises(PreviousResponseInProgress):
        await store.load_chain(A, record.id)


async def test_turns_whose_lease_lapsed_are_ended_failed_and_keep_their_input(
    store: Store,
) -> None:
    dead, alive = running(), running()
    await store.start_turn(TurnStart(dead, [msg("lost")], owner="dead", lease_until=100.0))
    await store.start_turn(TurnStart(alive, [msg("live")], owner="alive", lease_until=100.0))
    assert await store.renew_turns("alive", 200.0) == 1
    error = {"code": "server_error", "message": "interrupted"}
    assert await store.fail_abandoned_turns(150.0, error) == 1
    failed = await response(store, dead.id)
    assert failed.record.status == "failed" and failed.record.error == error
    page = await store.list_input_items(A, dead.id, after=None, limit=10, order="asc")
    assert page is not None and texts(page.items) == ["lost"]
    assert (await response(store, alive.id)).record.status == "in_progress"
    assert await store.fail_abandoned_turns(150.0, error) == 0
    assert await store.renew_turns("dead", 300.0) == 0


async def test_a_started_turn_whose_response_was_deleted_is_not_saved(store: Store) -> None:
    record = running()
    await store.start_turn(TurnStart(record, [msg("q")], owner="p1", lease_until=600.0))
    assert await store.delete_response(A, record.id)
    with pytest.raises(ResponseDeleted):
        await store.save_turn(TurnRecord(ended(record), [msg("q")], [msg("a")], started=True))
    assert await store.get_response(A, record.id) is None


async def test_a_started_conversation_turn_whose_response_was_deleted_adds_nothing(
    store: Store,
) -> None:
    conv = await conversation(store, "c0")
    record = running(conversation=conv)
    await store.start_turn(TurnStart(record, [msg("q")], owner="p1", lease_until=600.0))
    assert await store.delete_response(A, record.id)
    with pytest.raises(ResponseDeleted):
        await store.save_turn(
            TurnRecord(
                ended(record), [msg("q")], [msg("a")], append_to_conversation=True, started=True
            )
        )
    assert await conversation_texts(store, conv) == ["c0"]
    await save(store, ["q2"], ["a2"], conversation=conv, started=True)
    assert await conversation_texts(store, conv) == ["c0", "q2", "a2"]


async def test_a_failed_started_conversation_turn_frees_the_conversation_and_adds_nothing(
    store: Store,
) -> None:
    conv = await conversation(store, "c0")
    record = running(conversation=conv)
    assert await store.claim_conversation(A, conv, record.id, now=1.0, lease_until=900.0) == (
        "claimed"
    )
    await store.start_turn(TurnStart(record, [msg("q")], owner="p1", lease_until=600.0))
    failed = ended(record, status="failed")
    await store.save_turn(TurnRecord(failed, [msg("q")], [msg("partial")], started=True))
    assert await conversation_texts(store, conv) == ["c0"]
    assert await store.claim_conversation(A, conv, new_id("resp"), now=2.0, lease_until=9.0) == (
        "claimed"
    )
    stored = await response(store, record.id)
    assert stored.record.status == "failed" and texts(stored.output) == ["partial"]
    assert texts(await store.load_chain(A, record.id)) == ["c0", "q", "partial"]


async def test_a_started_turn_whose_conversation_was_deleted_is_not_saved(store: Store) -> None:
    conv = await conversation(store, "c0")
    record = running(conversation=conv)
    await store.start_turn(TurnStart(record, [msg("q")], owner="p1", lease_until=600.0))
    assert await store.delete_conversation(A, conv)
    assert await store.get_response(A, record.id) is None
    with pytest.raises(ConversationDeleted):
        await store.save_turn(
            TurnRecord(
                ended(record), [msg("q")], [msg("a")], append_to_conversation=True, started=True
            )
        )
    assert await store.get_response(A, record.id) is None
    with pytest.raises(ConversationDeleted):
        await store.start_turn(TurnStart(running(conversation=conv), [], "p1", 600.0))


# -- conversations ----------------------------------------------------------------------------
@pytest.mark.parametrize("started", [False, True], ids=["whole", "started"])
async def test_concurrent_turns_on_one_conversation_stay_contiguous(
    store: Store, started: bool
) -> None:
    conv = await conversation(store, "seed")
    writes = []
    for n in range(25):
        inputs, outputs = [f"t{n}-in"], [f"t{n}-out-a", f"t{n}-out-b"]
        at = 1000.0 + n
        writes.append(save(store, inputs, outputs, conversation=conv, at=at, started=started))
        batch = [msg(f"a{n}-x"), msg(f"a{n}-y")]
        writes.append(store.append_items(A, conv, batch, now=1000.0 + n))
    await asyncio.gather(*writes)
    history = await conversation_texts(store, conv)
    assert len(history) == 1 + 25 * 5 and len(set(history)) == len(history)
    for n in range(25):
        start = history.index(f"t{n}-in")
        assert history[start : start + 3] == [f"t{n}-in", f"t{n}-out-a", f"t{n}-out-b"]
        start = history.index(f"a{n}-x")
        assert history[start : start + 2] == [f"a{n}-x", f"a{n}-y"]
    assert (await conversation_record(store, conv)).last_active_at == 1025.0


async def test_a_conversation_runs_one_turn_at_a_time(store: Store) -> None:
    conv = await conversation(store, "seed")
    first, second = new_id("resp"), new_id("resp")
    assert await store.claim_conversation(A, conv, first, now=10.0, lease_until=40.0) == "claimed"
    assert await store.claim_conversation(A, conv, second, now=11.0, lease_until=41.0) == "locked"
    # Claiming again is harmless for the owner, and saving its turn lets go of the claim.
    assert await store.claim_conversation(A, conv, first, now=12.0, lease_until=42.0) == "claimed"
    await save(store, ["q1"], ["a1"], conversation=conv, response_id=first)
    assert await store.claim_conversation(A, conv, second, now=13.0, lease_until=43.0) == "claimed"


async def test_a_failed_turn_and_an_explicit_release_free_the_conversation(store: Store) -> None:
    conv = await conversation(store, "seed")
    failed, other, third = new_id("resp"), new_id("resp"), new_id("resp")
    assert await store.claim_conversation(A, conv, failed, now=1.0, lease_until=30.0) == "claimed"
    await save(store, ["q"], [], conversation=conv, append=False, response_id=failed)
    assert await store.claim_conversation(A, conv, other, now=2.0, lease_until=30.0) == "claimed"
    await store.release_conversation(A, conv, failed)  # not the owner: changes nothing
    assert await store.claim_conversation(A, conv, third, now=3.0, lease_until=30.0) == "locked"
    await store.release_conversation(A, conv, other)
    assert await store.claim_conversation(A, conv, third, now=4.0, lease_until=30.0) == "claimed"


async def test_a_lapsed_claim_can_be_taken_and_only_the_owner_renews(store: Store) -> None:
    conv = await conversation(store, "seed")
    crashed, next_turn = new_id("resp"), new_id("resp")
    assert await store.claim_conversation(A, conv, crashed, now=0.0, lease_until=30.0) == "claimed"
    assert await store.renew_conversation_claim(A, conv, crashed, 60.0)
    claimed = await store.claim_conversation(A, conv, next_turn, now=59.0, lease_until=90.0)
    assert claimed == "locked"
    claimed = await store.claim_conversation(A, conv, next_turn, now=61.0, lease_until=90.0)
    assert claimed == "claimed"
    assert not await store.renew_conversation_claim(A, conv, crashed, 120.0)
    assert await store.renew_conversation_claim(A, conv, next_turn, 120.0)


async def test_claims_are_scoped_to_the_tenant(store: Store) -> None:
    conv = await conversation(store, "seed")
    claim = await store.claim_conversation(B, conv, new_id("resp"), now=0.0, lease_until=9.0)
    assert claim == "missing"
    missing = await store.claim_conversation(A, "conv_none", new_id("resp"), now=0, lease_until=9)
    assert missing == "missing"
    assert not await store.renew_conversation_claim(B, conv, "resp_x", 9.0)


@pytest.mark.parametrize("append", [True, False])
async def test_a_turn_whose_conversation_was_deleted_is_not_saved(
    store: Store, append: bool
) -> None:
    conv = await conversation(store, "seed")
    turn = new_id("resp")
    assert await store.claim_conversation(A, conv, turn, now=0.0, lease_until=30.0) == "claimed"
    assert await store.delete_conversation(A, conv)
    with pytest.raises(ConversationDeleted):
        await save(store, ["q"], ["a"], conversation=conv, append=append, response_id=turn)
    assert await store.get_response(A, turn) is None


async def test_failed_turn_is_saved_without_touching_the_conversation(store: Store) -> None:
    conv = await conversation(store, "c0", "c1", at=100.0)
    failed = await save(store, ["i1"], ["partial"], conversation=conv, append=False, at=500.0)
    assert await conversation_texts(store, conv) == ["c0", "c1"]
    assert (await conversation_record(store, conv)).last_active_at == 100.0
    assert (await response(store, failed)).record.conversation_id == conv
    assert texts(await store.load_chain(A, failed)) == ["c0", "c1", "i1", "partial"]


async def test_turn_for_a_missing_conversation_is_refused(store: Store) -> None:
    with pytest.raises(ConversationDeleted):
        await save(store, ["i"], ["o"], conversation="conv_gone")


async def test_a_turn_that_cannot_be_saved_leaves_no_trace(store: Store) -> None:
    conv = await conversation(store, "c0")
    rid = await save(store, ["i1"], ["o1"], conversation=conv)
    with pytest.raises(Conflict):
        await save(store, ["dup"], ["dup"], conversation=conv, response_id=rid, at=9000.0)
    unserializable = ResponseRecord(new_id("resp"), A, 1.0, "completed", "m", {}, None, conv)
    bad = {"id": new_id("msg"), "type": "message", "content": [object()]}
    with pytest.raises(TypeError):
        await store.save_turn(TurnRecord(unserializable, [msg("ok")], [bad], True))
    assert await store.get_response(A, unserializable.id) is None
    assert await store.append_items(A, conv, [msg("next")], now=3000.0)
    assert await conversation_texts(store, conv) == ["c0", "i1", "o1", "next"]
    assert (await conversation_record(store, conv)).last_active_at == 3000.0


async def test_delete_conversation_deletes_its_items_and_turns(store: Store) -> None:
    conv = await conversation(store, "c0")
    t1 = await save(store, ["i1"], ["o1"], conversation=conv)
    failed = await save(store, ["i2"], ["o2"], conversation=conv, append=False)
    await store.append_items(A, conv, [msg("added")], now=2000.0)
    outside = await save(store, ["q"], ["a"], previous=t1)
    assert await store.delete_conversation(B, conv) is False
    assert await store.delete_conversation(A, conv)
    assert await store.load_conversation(A, conv) is None
    assert await store.get_response(A, t1) is None
    assert await store.get_response(A, failed) is None
    assert texts(await store.load_chain(A, outside)) == ["q", "a"]
    assert await stored_item_count(store) == 2
    assert await store.delete_conversation(A, conv) is False


async def test_update_conversation_changes_metadata_and_status(store: Store) -> None:
    conv = await conversation(store, metadata={"topic": "a", "old": "x"})
    updated = await store.update_conversation(A, conv, metadata={"topic": "b"})
    assert updated is not None and updated.metadata == {"topic": "b"}
    closed = await store.update_conversation(A, conv, status="closed", status_changed_at=7.0)
    assert closed is not None and (closed.status, closed.status_changed_at) == ("closed", 7.0)
    assert closed.metadata == {"topic": "b"}
    assert await store.update_conversation(A, conv) == closed
    assert await store.get_conversation(A, conv) == closed
    assert await store.update_conversation(A, "conv_unknown", status="closed") is None


async def test_list_conversations_filters_by_metadata_status_and_time(store: Store) -> None:
    odd_key = 'a.b"c'
    c1 = await conversation(store, at=100.0, metadata={"team": "red", odd_key: "1"})
    c2 = await conversation(store, at=200.0, metadata={"team": "red", "env": "prod"})
    c3 = await conversation(store, at=300.0, metadata={"team": "blue"})
    await store.update_conversation(A, c3, status="closed", status_changed_at=301.0)
    await store.append_items(A, c1, [msg("late")], now=400.0)

    async def ids(**flt: Any) -> list[str]:
        page = await store.list_conversations(A, ConversationFilter(**flt), after=None, limit=10)
        return [c.id for c in page.conversations]

    assert await ids() == [c1, c3, c2]
    assert await ids(metadata={"team": "red"}) == [c1, c2]
    assert await ids(metadata={"team": "red", "env": "prod"}) == [c2]
    assert await ids(metadata={odd_key: "1"}) == [c1]
    assert await ids(metadata={"team": "green"}) == []
    assert await ids(status="closed") == [c3]
    assert await ids(status="active") == [c1, c2]
    assert await ids(created_after=100.0) == [c3, c2]
    assert await ids(created_before=300.0) == [c1, c2]
    assert await ids(active_after=300.0) == [c1]
    assert await ids(active_before=300.0) == [c2]


async def test_list_conversations_pages_most_recent_first(store: Store) -> None:
    made = [await conversation(store, at=t) for t in (10.0, 20.0, 20.0, 30.0, 5.0)]
    same_time = sorted(made[1:3], reverse=True)
    expected = [made[3], *same_time, made[0], made[4]]
    seen, after, more = [], None, True
    while more:
        page = await store.list_conversations(A, ConversationFilter(), after=after, limit=2)
        seen += [c.id for c in page.conversations]
        after, more = seen[-1], page.has_more
    assert seen == expected


async def test_other_tenant_sees_nothing(store: Store) -> None:
    conv = await conversation(store, "c0")
    turn = await save(store, ["i1"], ["o1"], conversation=conv)
    item_id = (await response(store, turn)).output[0]["id"]
    assert await store.get_response(B, turn) is None
    assert await store.list_input_items(B, turn, after=None, limit=5, order="asc") is None
    assert await store.load_chain(B, turn) is None
    assert await store.get_items(B, [item_id]) == {}
    assert await store.get_conversation(B, conv) is None
    assert await store.load_conversation(B, conv) is None
    assert await store.list_conversation_items(B, conv, after=None, limit=5, order="asc") is None
    assert await store.get_conversation_item(B, conv, item_id) is None
    assert await store.update_conversation(B, conv, metadata={"x": "y"}) is None
    assert await store.append_items(B, conv, [msg("intruder")], now=1.0) is False
    assert await store.delete_conversation_item(B, conv, item_id) is False
    assert await store.delete_response(B, turn) is False
    assert await store.delete_conversation(B, conv) is False
    empty = await store.list_conversations(B, ConversationFilter(), after=None, limit=5)
    assert empty.conversations == [] and not empty.has_more
    with pytest.raises(InvalidRequest):
        await store.list_conversations(B, ConversationFilter(), after=conv, limit=5)
    # B's turns can neither join A's conversation nor continue A's chain.
    with pytest.raises(ConversationDeleted):
        await save(store, ["b-in"], ["b-out"], tenant=B, conversation=conv)
    theirs = await save(store, ["b-in"], ["b-out"], tenant=B, previous=turn)
    assert texts(await store.load_chain(B, theirs)) == ["b-in", "b-out"]
    assert await conversation_texts(store, conv) == ["c0", "i1", "o1"]
    assert (await conversation_record(store, conv)).metadata == {}


# -- retention --------------------------------------------------------------------------------
async def test_retention_sweep_deletes_old_responses_but_keeps_conversation_items(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_store_module, "SWEEP_BATCH", 2)
    conv = await conversation(store, "c0")
    old_turn = await save(store, ["i1"], ["o1"], conversation=conv, at=100.0)
    old = [await save(store, [f"q{n}"], [f"a{n}"], at=100.0 + n, tenant=B) for n in range(3)]
    recent = await save(store, ["q-new"], ["a-new"], previous=old_turn, at=500.0)
    assert await store.delete_responses_created_before(200.0) == 4
    assert all([await store.get_response(B, r) is None for r in old])
    assert await store.get_response(A, old_turn) is None
    assert await conversation_texts(store, conv) == ["c0", "i1", "o1"]
    assert texts(await store.load_chain(A, recent)) == ["q-new", "a-new"]
    assert await stored_item_count(store) == 5
    assert await store.delete_responses_created_before(200.0) == 0


async def test_idle_conversations_expire(store: Store) -> None:
    idle = await conversation(store, at=100.0)
    busy = await conversation(store, at=300.0)
    closed = await conversation(store, at=50.0)
    await store.update_conversation(A, closed, status="closed", status_changed_at=60.0)
    assert await store.expire_idle_conversations(idle_before=200.0, now=500.0) == 1
    expired = await store.get_conversation(A, idle)
    assert expired is not None and (expired.status, expired.status_changed_at) == ("expired", 500.0)
    assert (await conversation_record(store, busy)).status == "active"
    assert (await conversation_record(store, closed)).status == "closed"
    assert await store.expire_idle_conversations(idle_before=200.0, now=600.0) == 0


# -- API keys ---------------------------------------------------------------------------------
def api_key(name: str, tenant: str = A, at: float = 1.0) -> ApiKeyRecord:
    return ApiKeyRecord(new_id("key"), tenant, name, new_id("hash"), at)


async def test_api_keys_are_found_by_hash_until_revoked(store: Store) -> None:
    assert await store.has_api_keys() is False
    ci, ops = api_key("ci", at=1.0), api_key("ops", tenant=B, at=2.0)
    await store.create_api_key(ci)
    await store.create_api_key(ops)
    assert await store.has_api_keys()
    assert await store.find_api_key(ci.key_hash) == ci
    assert await store.find_api_key("unknown") is None
    assert await store.revoke_api_key("ci", now=5.0)
    assert await store.find_api_key(ci.key_hash) is None
    assert await store.revoke_api_key(ops.id, now=6.0)
    assert await store.revoke_api_key(ops.id, now=7.0) is False
    assert await store.revoke_api_key("nobody", now=7.0) is False
    listed = await store.list_api_keys()
    assert [(k.name, k.revoked_at) for k in listed] == [("ci", 5.0), ("ops", 6.0)]


async def test_keys_stay_required_after_the_last_is_revoked_until_revoked_keys_are_forgotten(
    store: Store,
) -> None:
    live, revoked = api_key("live"), api_key("gone")
    await store.create_api_key(live)
    await store.create_api_key(revoked)
    await store.revoke_api_key("gone", now=5.0)
    assert await store.forget_revoked_api_keys() == 1
    assert [k.name for k in await store.list_api_keys()] == ["live"]
    await store.revoke_api_key("live", now=6.0)
    assert await store.has_api_keys()
    assert await store.find_api_key(live.key_hash) is None
    assert await store.forget_revoked_api_keys() == 1
    assert await store.has_api_keys() is False
    assert await store.list_api_keys() == []


async def test_a_tenant_has_data_once_it_owns_a_response_or_a_conversation(store: Store) -> None:
    assert await store.tenant_has_data(A) is False
    await save(store, ["hello"], ["hi"], tenant=A)
    await conversation(store, tenant=B)
    assert await store.tenant_has_data(A)
    assert await store.tenant_has_data(B)
    assert await store.tenant_has_data("someone-else") is False


async def test_api_key_names_and_secrets_are_unique_among_live_keys(store: Store) -> None:
    first = api_key("deploy")
    await store.create_api_key(first)
    with pytest.raises(Conflict):
        await store.create_api_key(api_key("deploy"))
    with pytest.raises(Conflict):
        await store.create_api_key(ApiKeyRecord(new_id("key"), A, "other", first.key_hash, 2.0))
    await store.revoke_api_key("deploy", now=3.0)
    await store.create_api_key(api_key("deploy", at=4.0))
    assert len(await store.list_api_keys()) == 2


async def test_ping_succeeds_on_a_reachable_store(store: Store) -> None:
    await store.ping()


# -- SQL backends -----------------------------------------------------------------------------
@contextlib.contextmanager
def statements_on(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_loading_a_context_costs_the_same_statements_whatever_its_length(
    sql_store: SqlStore,
) -> None:
    counts = []
    for length in (5, 50):
        conv = await conversation(sql_store, "c0")
        previous = None
        for n in range(length):
            previous = await save(sql_store, [f"q{n}"], [f"a{n}"], previous=previous)
            await save(sql_store, [f"i{n}"], [f"o{n}"], conversation=conv)
        assert previous is not None
        cold = SqlStore(url_of(sql_store), context_cache_bytes=0)
        try:
            with statements_on(cold.engine) as seen:
                chain = await cold.load_chain(A, previous)
                loaded = await cold.load_conversation(A, conv)
                assert await cold.get_response(A, previous) is not None
        finally:
            await cold.close()
        assert chain is not None and len(chain) == 2 * length
        assert loaded is not None and len(loaded[1]) == 1 + 2 * length
        counts.append(len(seen))
    assert counts == [3, 3]  # one statement each, at 10 items as at 100


async def test_with_the_context_cache_a_load_is_one_statement_unless_a_copy_went_stale(
    sql_store: SqlStore,
) -> None:
    conv = await conversation(sql_store, "c0")
    previous = None
    for n in range(20):
        previous = await save(sql_store, [f"q{n}"], [f"a{n}"], previous=previous)
        await save(sql_store, [f"i{n}"], [f"o{n}"], conversation=conv)
    assert previous is not None
    cached = SqlStore(url_of(sql_store))  # another process: its cache starts empty
    try:
        for attempt in ("miss", "hit"):
            with statements_on(cached.engine) as seen:
                chain = await cached.load_chain(A, previous)
                loaded = await cached.load_conversation(A, conv)
            assert len(seen) == 2, (attempt, seen)
            assert chain is not None and texts(chain)[-2:] == ["q19", "a19"]
            assert loaded is not None and len(loaded[1]) == 41
        # A change made elsewhere is seen by the next load: each copy, found stale by its
        # small read, is read again.
        await save(sql_store, ["late"], ["reply"], conversation=conv)
        assert await sql_store.delete_response(A, previous)
        with statements_on(cached.engine) as seen:
            assert await cached.load_chain(A, previous) is None
            loaded = await cached.load_conversation(A, conv)
        assert len(seen) == 4, seen
        assert loaded is not None and texts(loaded[1])[-2:] == ["late", "reply"]
    finally:
        await cached.close()


def url_of(store: SqlStore) -> str:
    return store.engine.url.render_as_string(hide_password=False)


async def test_sqlite_store_survives_reopen(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'durable.db'}"
    first = SqlStore(url)
    await first.migrate()
    conv = await conversation(first, "c0", metadata={"k": "v"})
    turn = await save(first, ["i1"], ["o1"], conversation=conv)
    reply = await save(first, ["q"], ["a"], previous=turn)
    key = api_key("ci")
    await first.create_api_key(key)
    await first.close()

    reopened = SqlStore(url)
    await reopened.migrate()
    try:
        assert texts(await reopened.load_chain(A, reply)) == ["c0", "i1", "o1", "q", "a"]
        assert await conversation_texts(reopened, conv) == ["c0", "i1", "o1"]
        assert (await conversation_record(reopened, conv)).metadata == {"k": "v"}
        assert await reopened.find_api_key(key.key_hash) == key
    finally:
        await reopened.close()


async def test_migrate_is_idempotent(sql_store: SqlStore) -> None:
    conv = await conversation(sql_store, "c0")
    await sql_store.migrate()
    await sql_store.migrate()
    versions = await sql_store.read(
        lambda conn: conn.execute(text("SELECT version_num FROM alembic_version")).all()
    )
    assert [tuple(row) for row in versions] == [(head_revision(),)]
    assert await conversation_texts(sql_store, conv) == ["c0"]


async def test_migrations_match_the_table_definitions(sql_store: SqlStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from threadline.storage.sql.tables import OUTSIDE_DEFINITIONS, metadata

    def described(name: str | None, _kind: str, _parents: object) -> bool:
        return not (name or "").startswith(OUTSIDE_DEFINITIONS)

    def compared(conn: Connection) -> list[object]:
        with warnings.catch_warnings():  # SQLAlchemy reflects the cube columns it then skips
            warnings.filterwarnings("ignore", "Did not recognize type 'cube'")
            context = MigrationContext.configure(conn, opts={"include_name": described})
            return list(compare_metadata(context, metadata))

    assert await sql_store.read(compared) == []


async def test_sqlite_connections_are_durable_and_wait_for_each_other(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    server, cli = SqlStore(url), SqlStore(url)  # as two processes on one file would
    await server.migrate()
    try:
        pragmas = await server.read(
            lambda conn: [
                conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            ]
        )
        assert pragmas == ["wal", 2, 1, 30_000]
        conv = await conversation(server, "seed")
        writes = [
            (server, cli)[n % 2].append_items(A, conv, [msg(f"{n}-x"), msg(f"{n}-y")], now=n)
            for n in range(40)
        ]
        assert all(await asyncio.gather(*writes))
        history = await conversation_texts(cli, conv)
        assert len(history) == 81
        for n in range(40):
            start = history.index(f"{n}-x")
            assert history[start + 1] == f"{n}-y"
    finally:
        await server.close()
        await cli.close()


# -- opening a store from a user's URL --------------------------------------------------------
async def test_open_store_accepts_sqlite_urls_paths_and_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert isinstance(open_store("memory://"), MemoryStore)
    for url, path in (
        ("sqlite:///relative/a.db", tmp_path / "relative" / "a.db"),
        (f"sqlite:///{tmp_path}/abs/b.db", tmp_path / "abs" / "b.db"),
        (str(tmp_path / "plain" / "c.db"), tmp_path / "plain" / "c.db"),
    ):
        opened = open_store(url)
        assert isinstance(opened, SqlStore)
        await opened.migrate()
        await opened.close()
        assert path.is_file()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:secret@db:5433/threadline",
        "postgres://u:secret@db:5433/threadline",
        "postgresql+asyncpg://u:secret@db:5433/threadline",
    ],
)
async def test_open_store_accepts_postgresql_urls_as_users_write_them(url: str) -> None:
    opened = open_store(url, pool_size=3, max_overflow=2)
    assert isinstance(opened, SqlStore)
    try:
        sa_url = opened.engine.url
        assert (sa_url.drivername, sa_url.host, sa_url.port, sa_url.database) == (
            "postgresql+asyncpg",
            "db",
            5433,
            "threadline",
        )
        assert opened.engine.pool.size() == 3  # type: ignore[attr-defined]
    finally:
        await opened.close()


def test_libpq_sslmode_reaches_asyncpg_as_ssl() -> None:
    url = sqlalchemy_url("postgresql://u:secret@db/threadline?sslmode=require")
    assert url == "postgresql+asyncpg://u:secret@db/threadline?ssl=require"


def test_printed_database_urls_hide_the_password() -> None:
    assert redacted("postgresql://u:secret@db/threadline") == "postgresql://u:***@db/threadline"
    assert redacted("sqlite:////srv/t.db") == "sqlite:////srv/t.db"
    assert redacted("/srv/t.db") == "/srv/t.db"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u:secret@db", "must name a database"),
        ("postgresql://u:secret@db:port/x", "could not be parsed"),
        ("postgresql+psycopg://u:secret@db/x", "Unsupported database URL scheme"),
        ("mongodb://u:secret@db:99999/threadline", "MongoDB URL"),
        ("mysql://u:secret@db/x", "Unsupported database URL scheme 'mysql://'"),
        ("sqlite://", "memory://"),
    ],
)
def test_open_store_rejects_urls_it_cannot_serve(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        open_store(url)
    assert "secret" not in str(raised.value)


async def test_an_api_key_keeps_its_default_store(store: Store) -> None:
    minimal = ApiKeyRecord(new_id("key"), A, "minimal", new_id("hash"), 1.0, default_store=False)
    plain = api_key("plain", at=2.0)
    await store.create_api_key(minimal)
    await store.create_api_key(plain)
    found = await store.find_api_key(minimal.key_hash)
    assert found is not None and found.default_store is False
    listed = {k.name: k.default_store for k in await store.list_api_keys()}
    assert listed == {"minimal": False, "plain": None}


async def test_a_retention_sweep_reaches_only_the_tenants_in_its_scope(store: Store) -> None:
    mine, theirs = (
        await save(store, ["a"], ["b"], at=100.0),
        await save(store, ["a"], ["b"], tenant=B, at=100.0),
    )
    assert (
        await store.delete_responses_created_before(200.0, TenantScope(excluding=frozenset({A})))
        == 1
    )
    assert await store.get_response(B, theirs) is None
    assert await store.get_response(A, mine) is not None
    assert await store.delete_responses_created_before(200.0, TenantScope(only=B)) == 0
    assert await store.delete_responses_created_before(200.0, TenantScope(only=A)) == 1
