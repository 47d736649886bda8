"""Background responses: the jobs of the store's queue run in every process, and can be
cancelled and their streams resumed from any process.

A `background: true` create is stored `queued` as a job (`ResponseService.enqueue`). Each
process takes jobs while it has room (`concurrency`), oldest first, polling the store, and at
once when a job is queued here; the store makes sure each job is taken once, and a job of a
conversation waits for the earlier ones. A taken job runs as any turn does, leased to this
process; if the process stops, the job is given back and runs again (unless it ran a step with
side effects: storage/base.py).

The events of every background turn are kept in memory while it runs here (for streams that
follow it in this process) and written to the store in small batches (for streams resumed
from another process, or after a restart): `GET /v1/responses/{id}?stream=true
&starting_after=N` replays them from N+1 and follows until the terminal event.

Cancelling a job still queued ends it at once. A running one is cancelled where it runs: here,
its task is cancelled (the upstream call is aborted with it) and the turn ends `cancelled` with
its output so far; on another process, the request is noted in the store and that process sees
it at its next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from threadline.engine.clock import Clock, system_clock
from threadline.engine.responses.events import Event
from threadline.engine.responses.prepared_turn import JobControl
from threadline.engine.responses.running_turns import SIDE_EFFECTS_RAN_ERROR, RunningTurns
from threadline.engine.responses.service import ResponseService
from threadline.errors import ConversationLocked, InvalidRequest, NotFound, ThreadlineError
from threadline.storage.base import Job, Store

log = logging.getLogger(__name__)

_TERMINAL = frozenset({"response.completed", "response.failed", "response.incomplete"})
_UNFINISHED = ("queued", "in_progress")
_READ_BATCH = 500
_LAST_EVENTS_GRACE = 2.0
"""Seconds a follower waits for the last events of a response whose end is stored."""


@dataclass(slots=True)
class _EventLog:
    """The events of a job running here: followers read them; the store gets them in
    batches."""

    events: list[Event] = field(default_factory=list)
    unsaved: list[Event] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the job ended: the saver writes the last events now, not at its next flush."""

    def add(self, event: Event) -> None:
        self.events.append(event)
        self.unsaved.append(event)
        self.changed.set()


@dataclass(slots=True)
class _Running:
    task: asyncio.Task[None]
    control: JobControl
    log: _EventLog


class BackgroundJobs:
    def __init__(
        self,
        store: Store,
        responses: ResponseService,
        running: RunningTurns,
        *,
        concurrency: int = 64,
        poll_interval: float = 0.5,
        flush_interval: float = 0.05,
        clock: Clock = system_clock,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        self._on_end = on_end
        """Told when a job ends here, or is cancelled while queued (webhooks are due)."""
        self._store = store
        self._responses = responses
        self._running_turns = running
        self._concurrency = concurrency
        self._poll = poll_interval
        self._flush = flush_interval
        self._clock = clock
        self._jobs: dict[str, _Running] = {}
        self._wake = asyncio.Event()
        self._taken = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._stopping = False

    # -- the worker ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._concurrency > 0:
            self._loop = asyncio.create_task(self._take_forever())

    def wake(self) -> None:
        """A job was queued here: take it now rather than at the next poll."""
        self._wake.set()

    async def stop(self, grace_seconds: float) -> None:
        """Stop taking jobs; let running ones finish for up to `grace_seconds`, then give
        them back to the queue (another process, or this one restarted, runs them)."""
        self._stopping = True
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        tasks = {job.task for job in self._jobs.values()}
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=10)

    def __len__(self) -> int:
        return len(self._jobs)

    async def _take_forever(self) -> None:
        looked = -math.inf
        while not self._stopping:
            try:
                await self._take()
                # Cancellations asked through another process are looked for once a poll
                # interval, not at every wake: a busy queue wakes this loop at every job's end.
                if self._clock() - looked >= self._poll:
                    looked = self._clock()
                    await self._see_cancellations()
            except Exception:
                log.warning("background jobs: could not poll the queue", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)
            self._wake.clear()

    async def _take(self) -> None:
        room = self._concurrency - len(self._jobs)
        if room <= 0:
            return
        now = self._clock()
        lease_until = now + self._running_turns.lease_seconds
        owner = self._running_turns.owner
        jobs = await self._store.take_jobs(owner, now=now, lease_until=lease_until, limit=room)
        for job in jobs:
            response_id = job.response.id
            control = JobControl(note_side_effect=self._side_effect_noter(response_id))
            events = _EventLog()
            task = asyncio.create_task(self._run(job, control, events))
            self._jobs[response_id] = _Running(task, control, events)
            task.add_done_callback(functools.partial(self._ended, response_id))
        if jobs:
            # Followers waiting for a job to start here look again now.
            self._taken.set()
            self._taken = asyncio.Event()

    def _ended(self, response_id: str, _: asyncio.Task[None]) -> None:
        self._jobs.pop(response_id, None)
        self._wake.set()  # room for another job
        if self._on_end is not None:
            self._on_end()

    def _side_effect_noter(self, response_id: str) -> Any:
        noted = False

        async def note() -> None:
            nonlocal noted
            if not noted:
                await self._store.note_job_side_effect(response_id)
                noted = True

        return note

    async def _run(self, job: Job, control: JobControl, events: _EventLog) -> None:
        response_id = job.response.id
        try:
            turn = await self._responses.prepare_job(job, control)
        except ConversationLocked:
            # A turn sent without `background` holds the conversation: wait for it.
            await asyncio.sleep(self._poll)
            await self._store.requeue_job(response_id, SIDE_EFFECTS_RAN_ERROR)
            return
        except ThreadlineError as exc:
            await self._responses.end_job(job, "failed", exc)
            return
        except asyncio.CancelledError:
            if control.cancel_requested:
                await asyncio.shield(self._responses.end_job(job, "cancelled"))
            else:
                await asyncio.shield(self._store.requeue_job(response_id, SIDE_EFFECTS_RAN_ERROR))
            raise
        keep = bool(job.response.settings.get("stream"))
        saving = asyncio.create_task(self._save_events(response_id, events)) if keep else None
        try:
            async for event in self._responses.run(turn).events:
                events.add(event)
        finally:
            events.done.set()
            events.changed.set()
            if saving is not None:
                await asyncio.shield(saving)

    async def _save_events(self, response_id: str, events: _EventLog) -> None:
        """Write the job's events to the store every `flush_interval`, and the last ones once
        it ended."""
        while True:
            ended = events.done.is_set()
            batch, events.unsaved = events.unsaved, []
            if batch:
                try:
                    await self._store.append_response_events(response_id, batch)
                except Exception:
                    log.warning("response %s: could not keep stream events", response_id)
            if ended:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(events.done.wait(), self._flush)

    # -- cancel -------------------------------------------------------------------------------
    async def cancel(self, tenant: str, response_id: str) -> dict[str, Any]:
        """Cancel a background response; the Response as it then stands (idempotent: a
        response that already ended is returned as it ended)."""
        outcome = await self._store.cancel_job(tenant, response_id)
        if outcome == "missing":
            raise NotFound(f"Response with id '{response_id}' not found.", param="response_id")
        if outcome == "not_background":
            raise InvalidRequest(
                "Only responses created with background=true can be cancelled.",
                param="response_id",
            )
        if outcome == "requested":
            await self._wait_cancelled(tenant, response_id)
        elif outcome == "cancelled" and self._on_end is not None:
            self._on_end()
        return await self._responses.retrieve(tenant, response_id)

    async def _wait_cancelled(self, tenant: str, response_id: str) -> None:
        here = self._jobs.get(response_id)
        if here is not None:
            self._cancel_here(here)
            await asyncio.wait({here.task}, timeout=10)
            return
        # Running on another process: it sees the request at its next poll.
        deadline = self._clock() + 10
        while self._clock() < deadline:
            stored = await self._store.get_response(tenant, response_id)
            if stored is None or stored.record.status not in _UNFINISHED:
                return
            await asyncio.sleep(0.05)

    @staticmethod
    def _cancel_here(job: _Running) -> None:
        if not job.control.cancel_requested:
            job.control.cancel_requested = True
            # Not `task.cancel()` now: a task taken in this same pass has not started, and a
            # task cancelled before its first step never runs its body, so `_run` would not end
            # the job `cancelled` (it stayed in progress until its lease lapsed, then ran
            # again). The task's first step is already scheduled; this comes after it.
            asyncio.get_running_loop().call_soon(job.task.cancel)

    async def _see_cancellations(self) -> None:
        if not self._jobs:
            return
        for response_id in await self._store.cancel_requested_jobs(self._running_turns.owner):
            if (job := self._jobs.get(response_id)) is not None:
                self._cancel_here(job)

    # -- resuming a stream --------------------------------------------------------------------
    async def check_resumable(self, tenant: str, response_id: str) -> None:
        """Raise unless the tenant's response is a streamed background one (its events are
        kept)."""
        stored = await self._store.get_response(tenant, response_id)
        if stored is None:
            raise NotFound(f"Response with id '{response_id}' not found.", param="response_id")
        if not stored.record.settings.get("stream"):
            raise InvalidRequest(
                "Only the stream of a response created with background=true and stream=true "
                "can be resumed; retrieve this one without 'stream'.",
                param="stream",
            )

    async def follow(
        self, tenant: str, response_id: str, after: int, *, queued_here: bool = False
    ) -> AsyncIterator[Event]:
        """The response's events after `after`: those kept, then live ones as they come, to
        the terminal event (from memory while the job runs here, else from the store).
        `queued_here`: the job was just queued, and this process woken to take it."""
        ended_at: float | None = None
        while not self._stopping:
            # Held before looking: a job taken here while this looks (it awaits the store)
            # sets this event, where the one current after the looking would miss it.
            taken = self._taken
            here = self._jobs.get(response_id)
            if here is None and queued_here and self._loop is not None:
                # The store has nothing of it yet: wait for this process's take first.
                queued_here = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(taken.wait(), self._flush)
                continue
            if here is not None:
                async for event in _from_memory(here.log, after):
                    yield event
                    after = event["sequence_number"]
                    if event["type"] in _TERMINAL:
                        return
                # Given back mid-run (shutdown): it runs again, here or elsewhere.
                await asyncio.sleep(self._flush)
                continue
            kept = await self._store.response_events(
                tenant, response_id, after=after, limit=_READ_BATCH
            )
            if kept is None:
                return  # deleted meanwhile
            for event in kept:
                yield event
                after = event["sequence_number"]
                if event["type"] in _TERMINAL:
                    return
            if len(kept) == _READ_BATCH:
                continue
            if kept:
                ended_at = None
            elif await self._has_ended(tenant, response_id):
                # Its process writes the last events just after it saves the end: give them
                # a moment (a process that died in between never writes them).
                ended_at = ended_at if ended_at is not None else self._clock()
                if self._clock() - ended_at > _LAST_EVENTS_GRACE:
                    return
            # Look again when a job starts here (it may be this one), or after a flush.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(taken.wait(), self._flush)

    async def _has_ended(self, tenant: str, response_id: str) -> bool:
        stored = await self._store.get_response(tenant, response_id)
        return stored is None or stored.record.status not in _UNFINISHED


async def _from_memory(log_: _EventLog, after: int) -> AsyncIterator[Event]:
    index = 0
    while True:
        log_.changed.clear()
        events = log_.events
        while index < len(events):
            event = events[index]
            index += 1
            if event["sequence_number"] > after:
                yield event
        if log_.done.is_set():
            return
        await log_.changed.wait()
