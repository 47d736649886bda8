"""Following a background response (engine/responses/background.py): a follower that is
reading the store when the job is taken here still sees the job's events at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
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
