"""The background-job part of the storage contract (storage/base.py), on every backend: a
background turn is a job in the store, taken by one process, given back when its process
stops, cancelled, and its stream events kept."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from tests.storage.test_store_contract import A, B, conversation, ended, msg, response, texts
from threadline.errors import PreviousResponseInProgress
from threadline.ids import new_id
from threadline.storage.base import QueuedTurn, ResponseRecord, Store, TurnRecord

ERROR = {"code": "server_error", "message": "interrupted"}


def queued(conversation_id: str | None = None, tenant: str = A) -> ResponseRecord:
    return ResponseRecord(
        id=new_id("resp"),
        tenant=tenant,
        created_at=500.0,
        status="queued",
        model="test-model",
        settings={"background": True},
        conversation_id=conversation_id,
    )


def finished(record: ResponseRecord) -> ResponseRecord:
    return dataclasses.replace(ended(record), settings={"background": True})


async def enqueue(store: Store, record: ResponseRecord, text: str = "q") -> ResponseRecord:
    await store.enqueue_turn(QueuedTurn(record, [msg(text)], {"input": text, "secret": "s"}))
    return record


async def test_a_queued_turn_is_stored_queued_with_its_input(store: Store) -> None:
    record = await enqueue(store, queued())
    stored = await response(store, record.id)
    assert stored.record.status == "queued" and stored.output == []
    page = await store.list_input_items(A, record.id, after=None, limit=10, order="asc")
    assert page is not None and texts(page.items) == ["q"]
    assert await store.count_queued_jobs() == 1
    await enqueue(store, queued(tenant=B))
    counts = [await store.count_queued_jobs(tenant) for tenant in (A, B, "nobody", None)]
    assert counts == [1, 1, 0, 2]
    with pytest.raises(PreviousResponseInProgress):
        await store.load_chain(A, record.id)


async def test_jobs_are_taken_oldest_first_with_their_request(store: Store) -> None:
    first, second, third = [await enqueue(store, queued(), t) for t in ("1", "2", "3")]
    taken = await store.take_jobs("p1", now=500.0, lease_until=600.0, limit=2)
    assert [job.response.id for job in taken] == [first.id, second.id]
    assert taken[0].request == {"input": "1", "secret": "s"}
    assert taken[0].response.status == "in_progress"
    assert (await response(store, first.id)).record.status == "in_progress"
    assert await store.count_queued_jobs() == 1
    rest = await store.take_jobs("p2", now=500.0, lease_until=600.0, limit=5)
    assert [job.response.id for job in rest] == [third.id]
    assert await store.take_jobs("p3", now=500.0, lease_until=600.0, limit=5) == []


async def test_a_taken_job_carries_its_input_items_as_stored(store: Store) -> None:
    """The worker runs the turn at once: its inputs come with the take, ids and order as
    `list_input_items` gives them, each job its own."""
    first = queued()
    inputs = [msg("one"), msg("two"), msg("three")]
    await store.enqueue_turn(QueuedTurn(first, inputs, {"input": "three items"}))
    second = await enqueue(store, queued(), "alone")
    taken = await store.take_jobs("p1", now=500.0, lease_until=600.0, limit=2)
    page = await store.list_input_items(A, first.id, after=None, limit=10, order="asc")
    assert page is not None
    assert [job.response.id for job in taken] == [first.id, second.id]
    assert taken[0].inputs == page.items == inputs
    assert texts(taken[1].inputs) == ["alone"]


async def test_each_job_is_taken_by_one_process_when_many_take_at_once(store: Store) -> None:
    records = [await enqueue(store, queued(), str(i)) for i in range(12)]
    takes = await asyncio.gather(
        *(store.take_jobs(f"p{i}", now=500.0, lease_until=600.0, limit=3) for i in range(6))
    )
    taken = [job.response.id for jobs in takes for job in jobs]
    assert sorted(taken) == sorted(r.id for r in records)


async def test_a_conversation_job_waits_behind_the_earlier_one(store: Store) -> None:
    conv = await conversation(store, "c0")
    first = await enqueue(store, queued(conv), "1")
    second = await enqueue(store, queued(conv), "2")
    other = await enqueue(store, queued(), "3")
    taken = await store.take_jobs("p1", now=500.0, lease_until=600.0, limit=5)
    assert [job.response.id for job in taken] == [first.id, other.id]
    assert await store.take_jobs("p1", now=500.0, lease_until=600.0, limit=5) == []
    await store.save_turn(
        TurnRecord(
            ended(taken[0].response),
            [msg("1")],
            [msg("a")],
            append_to_conversation=True,
            started=True,
            background=True,
        )
    )
    again = await store.take_jobs("p1", now=500.0, lease_until=600.0, limit=5)
    assert [job.response.id for job in again] == [second.id]


async def test_a_saved_job_turn_ends_its_job(store: Store) -> None:
    record = await enqueue(store, queued())
    [job] = await store.take_jobs("p1", now=500.0, lease_until=600.0, limit=1)
    await store.save_turn(
        TurnRecord(finished(job.response), [msg("q")], [msg("a")], started=True, background=True)
    )
    stored = await response(store, record.id)
    assert stored.record.status == "completed" and texts(stored.output) == ["a"]
    assert await store.requeue_abandoned_jobs(10_000.0, ERROR) == 0
    assert await store.cancel_job(A, record.id) == "ended"


async def test_a_job_given_back_is_queued_again_unless_it_had_side_effects(store: Store) -> None:
    plain, effectful = await enqueue(store, queued(), "1"), await enqueue(store, queued(), "2")
    await store.take_jobs("p1", now=500.0, lease_until=600.0, limit=2)
    await store.note_job_side_effect(effectful.id)
    assert await store.requeue_job(plain.id, ERROR)
    assert not await store.requeue_job(effectful.id, ERROR)
    assert (await response(store, plain.id)).record.status == "queued"
    failed = (await response(store, effectful.id)).record
    assert failed.status == "failed" and failed.error == ERROR
    [again] = await store.take_jobs("p2", now=500.0, lease_until=600.0, limit=5)
    assert again.response.id == plain.id


async def test_jobs_of_a_dead_process_are_queued_again_and_not_failed(store: Store) -> None:
    dead, alive = await enqueue(store, queued(), "1"), await enqueue(store, queued(), "2")
    await store.take_jobs("dead", now=500.0, lease_until=550.0, limit=1)
    await store.take_jobs("alive", now=500.0, lease_until=550.0, limit=1)
    assert await store.renew_turns("alive", 700.0) == 1
    # The sweep of foreground turns leaves jobs to the requeue.
    assert await store.fail_abandoned_turns(600.0, ERROR) == 0
    assert await store.requeue_abandoned_jobs(600.0, ERROR) == 1
    assert (await response(store, dead.id)).record.status == "queued"
    assert (await response(store, alive.id)).record.status == "in_progress"
    page = await store.list_input_items(A, dead.id, after=None, limit=10, order="asc")
    assert page is not None and texts(page.items) == ["1"]


async def test_cancelling_a_queued_job_ends_it_cancelled(store: Store) -> None:
    record = await enqueue(store, queued())
    assert await store.cancel_job(B, record.id) == "missing"
    assert await store.cancel_job(A, record.id) == "cancelled"
    assert (await response(store, record.id)).record.status == "cancelled"
    assert await store.take_jobs("p1", now=500.0, lease_until=600.0, limit=5) == []
    assert await store.cancel_job(A, record.id) == "ended"


async def test_cancelling_a_running_job_asks_its_process(store: Store) -> None:
    record = await enqueue(store, queued())
    await store.take_jobs("p1", now=500.0, lease_until=600.0, limit=1)
    assert await store.cancel_requested_jobs("p1") == []
    assert await store.cancel_job(A, record.id) == "requested"
    assert await store.cancel_requested_jobs("p1") == [record.id]
    assert await store.cancel_requested_jobs("p2") == []
    assert (await response(store, record.id)).record.status == "in_progress"


async def test_only_background_responses_can_be_cancelled(store: Store) -> None:
    assert await store.cancel_job(A, "resp_missing") == "missing"
    record = dataclasses.replace(queued(), settings={})
    await store.save_turn(TurnRecord(ended(record), [msg("q")], [msg("a")]))
    assert await store.cancel_job(A, record.id) == "not_background"


async def test_kept_events_are_read_after_a_sequence_number(store: Store) -> None:
    record = await enqueue(store, queued())
    events = [{"type": "e", "sequence_number": n} for n in range(5)]
    await store.append_response_events(record.id, events[:3])
    await store.append_response_events(record.id, events[3:])
    assert await store.response_events(A, record.id, after=1, limit=10) == events[2:]
    assert await store.response_events(A, record.id, after=-1, limit=2) == events[:2]
    assert await store.response_events(B, record.id, after=-1, limit=10) is None


async def test_deleting_a_queued_response_deletes_its_job_and_events(store: Store) -> None:
    record = await enqueue(store, queued())
    await store.append_response_events(record.id, [{"type": "e", "sequence_number": 0}])
    assert await store.delete_response(A, record.id)
    assert await store.count_queued_jobs() == 0
    assert await store.take_jobs("p1", now=500.0, lease_until=600.0, limit=5) == []
    assert await store.response_events(A, record.id, after=-1, limit=10) is None
