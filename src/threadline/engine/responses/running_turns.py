"""The turns this process is running: each is stored when it starts, leased to this process,
and visible while it runs.

A turn with `store: true` is written `in_progress` with its input as it starts (`start`), so
`GET /v1/responses/{id}` finds it and a crash cannot lose what the caller sent. The write is
queued, not awaited: the model is called while it commits, and the turn's end is saved after
it (`stored`): on a store whose writes apply in submission order (SQLite's one writer) the end
is simply queued behind it, often into the same group commit; elsewhere it waits for the start
to commit. Awaiting the start before calling the model would put a second commit on every
turn's path.
The write is queued as the first model call is made (`begin`), behind it on the event
loop: the model's request goes out first, and building the rows and committing them (on the
same core, on a pinned server) overlap the model's work instead of delaying its request
(time to first token 0.1-0.2 ms shorter at idle, measured).

A turn not streamed is read for its end only: until it ends nobody holds its id, so nobody can
ask for it. Its start is written only if it is still running `START_DEFERRED_SECONDS` after
its run began; a turn that ends sooner (and one that ends before its run began) is written
whole by its end, in one write (`stored` says which). A crash before then loses only a turn
nobody was told of, as a crash before the start's commit always could; a long turn (a slow
model, a tool loop) is kept from then on as before. One write instead of two halves what a
short turn costs the store (on SQLite at one client: 0.18 ms of the writer's time per turn).

Its response is leased to this process (`owner`); one task renews the leases of all the turns
running here, in one statement, every third of a lease. If the process dies, its leases lapse,
and the sweeper of any process ends those turns `failed` (`RetentionSweeper`,
`Store.fail_abandoned_turns`), keeping their input: no turn stays `in_progress` forever, and
on PostgreSQL a replica ends only the turns whose owner stopped renewing, never a live one.

While a turn runs here, its current output is served from memory (`live`); its status reads
`in_progress` until its end is durable.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import orjson

from threadline import ids
from threadline.engine.clock import Clock, system_clock
from threadline.engine.responses.response_object import response_object
from threadline.storage.base import Item, ResponseRecord, Store, TurnStart

log = logging.getLogger(__name__)

START_DEFERRED_SECONDS = 0.5
"""How long a turn read only for its end runs before its start is written (module docstring).
Longer than a short turn on a fast model takes, short beside what a crash costs a long one."""

INTERRUPTED_ERROR = {
    "code": "server_error",
    "message": "The response was interrupted: the server process running it stopped before it "
    "finished (server_interrupted). Its input was kept; send the request again.",
}
"""What a turn whose process died is ended with (the code is one the Response schema knows)."""

SIDE_EFFECTS_RAN_ERROR = {
    "code": "server_error",
    "message": "The background response was interrupted after it ran a tool step with side "
    "effects (server_interrupted_after_side_effects), so it was not run again. Its input was "
    "kept; send the request again if repeating that step is safe.",
}
"""What a background job whose process stopped is ended with when it cannot be run again."""


@dataclasses.dataclass(slots=True)
class _Running:
    record: ResponseRecord
    output: list[Item]
    start_write: asyncio.Future[None] | None
    """The start's write once queued (None until then)."""
    start: list[Item] | None = None
    """The input of a start still to be written (None once queued, and for an adopted
    turn)."""
    submitted: bool = False
    """The start's write is in the store's hands (its task has run its first step)."""
    deferred: asyncio.TimerHandle | None = None
    """The timer that queues a deferred start (`begin(..., deferred=True)`)."""


class RunningTurns:
    def __init__(self, store: Store, *, lease_seconds: float, clock: Clock = system_clock) -> None:
        self._store = store
        self._lease = lease_seconds
        self._clock = clock
        self.owner = ids.new_id("proc")
        """This process's name on the leases of the turns it runs."""
        self._running: dict[str, _Running] = {}
        self._renewing: asyncio.Task[None] | None = None

    def start(self, record: ResponseRecord, input_items: list[Item]) -> None:
        """Run the turn here, stored `in_progress` with its input and leased to this process
        by a write that `begin` queues; `stored` waits for it."""
        self._track(record, None, list(input_items))

    def begin(self, response_id: str, output: list[Item], *, deferred: bool = False) -> None:
        """The turn's run begins: serve `output` (the list it appends to) as its output so far,
        and queue its start's write behind the first model call, which the run makes before it
        awaits anything; `deferred` (a turn read for its end only), after
        `START_DEFERRED_SECONDS` if it is still running then."""
        running = self._running.get(response_id)
        if running is None:
            return
        running.output = output
        if running.start is None:
            return
        loop = asyncio.get_running_loop()
        if deferred:
            running.deferred = loop.call_later(START_DEFERRED_SECONDS, self._queue_start, running)
        else:
            loop.call_soon(self._queue_start, running)

    def _queue_start(self, running: _Running) -> None:
        if running.start is None:
            return
        # Leased from when it is queued (a deferred start is queued well after `start`).
        lease_until = self._clock() + self._lease
        start = TurnStart(running.record, running.start, self.owner, lease_until)
        running.start = None
        running.start_write = asyncio.ensure_future(self._write_start(running, start))

    async def _write_start(self, running: _Running, start: TurnStart) -> None:
        # A store's write is handed over before its first await, in this same step.
        running.submitted = True
        await self._store.start_turn(start)

    def adopt(self, record: ResponseRecord) -> None:
        """Run here a turn already stored `in_progress` and leased to this process (a taken
        background job)."""
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        written.set_result(None)
        self._track(record, written)
        self._running[record.id].submitted = True

    def _track(
        self,
        record: ResponseRecord,
        start_write: asyncio.Future[None] | None,
        start: list[Item] | None = None,
    ) -> None:
        self._running[record.id] = _Running(record, [], start_write, start)
        if self._renewing is None or self._renewing.done():
            self._renewing = asyncio.create_task(self._renew_while_running())

    @property
    def lease_seconds(self) -> float:
        return self._lease

    async def stored(self, response_id: str) -> bool:
        """Return once the turn's end may be saved, and whether its start was written (the end
        finishes it) or not (the end writes the turn whole: its start, never queued, is dropped).
        A written start is stored, or (on a store that applies writes in order) queued before
        the end. Raises what the start's write raised."""
        running = self._running.get(response_id)
        if running is None:
            return True
        if running.start is not None:
            running.start = None
            if running.deferred is not None:
                running.deferred.cancel()
            return False
        write = running.start_write
        if write is None:  # dropped by an earlier call
            return False
        # Once submitted, an in-order store applies the start before this end.
        if self._store.writes_in_order and running.submitted and not write.done():
            return True
        await asyncio.shield(write)
        return True

    def end(self, response_id: str) -> None:
        """The turn's end is stored (or it was given up): stop leasing and showing it."""
        running = self._running.pop(response_id, None)
        if running is None:
            return
        if running.deferred is not None:
            running.deferred.cancel()
        if running.start_write is not None and running.start_write.done():
            running.start_write.exception()  # seen by `stored`, or by nobody: retrieved here

    def runs(self, tenant: str, response_id: str) -> bool:
        """Whether the tenant's turn `response_id` is running in this process (its start may
        not be committed yet)."""
        running = self._running.get(response_id)
        return running is not None and running.record.tenant == tenant

    def live(self, tenant: str, response_id: str) -> dict[str, Any] | None:
        """The Response object of a turn running here, with its output so far; None if no
        such turn runs in this process."""
        running = self._running.get(response_id)
        if running is None or running.record.tenant != tenant:
            return None
        # In progress until its end is durable, whatever the record says meanwhile; the output
        # is copied, since the turn keeps changing it.
        record = dataclasses.replace(running.record, status="in_progress", completed_at=None)
        output = orjson.loads(orjson.dumps(running.output))
        return response_object(record, output)

    async def _renew_while_running(self) -> None:
        while self._running:
            await asyncio.sleep(self._lease / 3)
            try:
                await self._store.renew_turns(self.owner, self._clock() + self._lease)
            except Exception:
                log.warning("could not renew the leases of running turns", exc_info=True)
