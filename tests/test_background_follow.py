"""Following a background response (engine/responses/background.py): a follower that is
reading the store when the job is taken here still sees the job's events at once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any, cast

from tests.storage.test_background_jobs_contract import enqueue, queued
from tests.storage.test_store_contract import A
from threadline.engine.responses.background import BackgroundJobs
from threadline.engine.responses.running_turns import RunningTurns
from threadline.engine.responses.service import ResponseService
from threadline.storage.base import Item, Job
from threadline.storage.memory import MemoryStore

LONG = 30.0
"""Poll and flush intervals: a follower that missed the job's start would wait this long."""


class ReadHeldStore(MemoryStore):
    """Its first read of kept events waits for `release`, saying when it began."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = asyncio.Event()
        self.release = asyncio.Event()

    async def response_events(
        self, tenant: str, response_id: str, *, after: int, limit: int
    ) -> list[Item] | None:
        self.reading.set()
        await self.release.wait()
        return await super().response_events(tenant, response_id, after=after, limit=limit)


class HeldTurns:
    """Runs a job as `response.created`, then its end once `finish` is set."""

    def __init__(self) -> None:
        self.running = asyncio.Event()
        self.finish = asyncio.Event()

    async def prepare_job(self, job: Job, _control: Any) -> Job:
        return job

    def run(self, job: Job) -> SimpleNamespace:
        return SimpleNamespace(events=self._events(job))

    async def _events(self, job: Job) -> AsyncIterator[dict[str, Any]]:
        response = {"id": job.response.id}
        self.running.set()
        yield {"type": "response.created", "sequence_number": 0, "response": response}
        await self.finish.wait()
        yield {"type": "response.completed", "sequence_number": 1, "response": response}


async def test_a_job_taken_while_its_follower_reads_the_store_is_followed_at_once() -> None:
    store, turns = ReadHeldStore(), HeldTurns()
    record = await enqueue(store, queued())
    running = RunningTurns(store, lease_seconds=600)
    jobs = BackgroundJobs(
        store,
        cast(ResponseService, turns),
        running,
        poll_interval=LONG,
        flush_interval=LONG,
    )
    seen: list[str] = []
    first = asyncio.Event()

    async def follow() -> None:
        async for event in jobs.follow(A, record.id, after=-1):
            seen.append(event["type"])
            first.set()

    following = asyncio.create_task(follow())
    await store.reading.wait()  # the follower looked for the job here, and is reading
    jobs.start()  # the job is taken here meanwhile
    await turns.running.wait()
    store.release.set()
    try:
        async with asyncio.timeout(5):
            await first.wait()
        assert seen == ["response.created"]
        turns.finish.set()
        async with asyncio.timeout(5):
            await following
        assert seen == ["response.created", "response.completed"]
    finally:
        following.cancel()
        await jobs.stop(1)


class TakeHeldStore(MemoryStore):
    """Its takes wait for `release`; it counts the reads of kept events."""

    def __init__(self) -> None:
        super().__init__()
        self.taking = asyncio.Event()
        self.release = asyncio.Event()
        self.event_reads = 0

    async def take_jobs(
        self, owner: str, *, now: float, lease_until: float, limit: int
    ) -> list[Job]:
        self.taking.set()
        await self.release.wait()
        return await super().take_jobs(owner, now=now, lease_until=lease_until, limit=limit)

    async def response_events(
        self, tenant: str, response_id: str, *, after: int, limit: int
    ) -> list[Item] | None:
        self.event_reads += 1
        return await super().response_events(tenant, response_id, after=after, limit=limit)


def background_jobs(
    store: MemoryStore, turns: HeldTurns, on_end: Callable[[], None] | None = None
) -> BackgroundJobs:
    running = RunningTurns(store, lease_seconds=600)
    service = cast(ResponseService, turns)
    return BackgroundJobs(
        store, service, running, poll_interval=LONG, flush_interval=LONG, on_end=on_end
    )


async def test_the_follower_of_a_job_queued_here_waits_for_the_take_not_the_store() -> None:
    # The store holds nothing of a job just queued: the streamed create's follower reads
    # its events from memory once this process took it.
    store, turns = TakeHeldStore(), HeldTurns()
    record = await enqueue(store, queued())
    jobs = background_jobs(store, turns)
    jobs.start()
    await store.taking.wait()
    seen: list[str] = []

    async def follow() -> None:
        async for event in jobs.follow(A, record.id, after=-1, queued_here=True):
            seen.append(event["type"])

    following = asyncio.create_task(follow())
    try:
        await asyncio.sleep(0.01)  # the follower is waiting
        store.release.set()
        await turns.running.wait()
        turns.finish.set()
        async with asyncio.timeout(5):
            await following
        assert seen == ["response.created", "response.completed"]
        assert store.event_reads == 0
    finally:
        following.cancel()
        await jobs.stop(1)


async def test_a_streamed_jobs_last_events_are_kept_as_it_ends_not_at_the_next_flush() -> None:
    store, turns = MemoryStore(), HeldTurns()
    streamed = dataclasses.replace(queued(), settings={"background": True, "stream": True})
    record = await enqueue(store, streamed)
    ended = asyncio.Event()
    jobs = background_jobs(store, turns, on_end=ended.set)
    jobs.start()
    try:
        await turns.running.wait()
        turns.finish.set()
        async with asyncio.timeout(5):  # the flush interval is LONG
            await ended.wait()
        kept = await store.response_events(A, record.id, after=-1, limit=10)
        assert [event["type"] for event in kept or []] == [
            "response.created",
            "response.completed",
        ]
    finally:
        await jobs.stop(1)
