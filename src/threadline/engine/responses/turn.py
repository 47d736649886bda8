"""Run one prepared turn: stream the provider (and the server-side tools the model calls, in
`tool_loop.py`) into the response's output, then hand what was observed to `turn_end.py`,
which decides, saves and says how the turn ended.

A run that is interrupted (server shutdown) still ends through the ender: saved as `failed`
and told to its client, before the cancellation goes on. A run cut off harder (its events no
longer read, or cancelled between events) is abandoned: saved as `failed` in a `finally` that
the cancellation cannot skip.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from threadline.engine.clock import Clock
from threadline.engine.conversations.claims import ConversationPolicy
from threadline.engine.disclosure import shown_event
from threadline.engine.responses.events import Event, EventSequencer
from threadline.engine.responses.prepared_turn import PreparedTurn
from threadline.engine.responses.response_object import response_object
from threadline.engine.responses.running_turns import RunningTurns
from threadline.engine.responses.sealed_reasoning import ReasoningSeals
from threadline.engine.responses.tool_loop import ReasoningBoundary, ToolLoop
from threadline.engine.responses.turn_end import Stop, TurnEnder, TurnOutcome
from threadline.engine.usage.meter import UsageMeter
from threadline.errors import ShuttingDown, ThreadlineError
from threadline.storage.base import Store
from threadline.tools.base import ServerTools

log = logging.getLogger(__name__)


class TurnRun:
    """One run of a prepared turn: iterate `events` for OpenAI's stream events (ending with
    exactly one terminal event); `outcome` says how it ended, once it has."""

    def __init__(self, runner: TurnRunner, turn: PreparedTurn) -> None:
        self.turn = turn
        self.outcome: TurnOutcome | None = None
        self.terminal_only = False
        """Set, before `events` is read, by a reader that keeps only the terminal event (a
        response not streamed): the events before it are then made without what only a
        stream's reader sees (the opening events' response objects, each event's disclosure),
        and the terminal event is not disclosed either: the reader shows its response."""
        self.events: AsyncIterator[Event] = runner.events(self)


class TurnRunner:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        tools: ServerTools | None = None,
        conversations: ConversationPolicy | None = None,
        running: RunningTurns | None = None,
        *,
        reasoning: ReasoningSeals | None = None,
        meter: UsageMeter | None = None,
    ) -> None:
        self._reasoning = reasoning
        self._tools = tools
        self._conversations = conversations
        self._running = running
        self._ender = TurnEnder(store, clock, running, meter)

    def run(self, turn: PreparedTurn) -> TurnRun:
        return TurnRun(self, turn)

    async def events(self, run: TurnRun) -> AsyncIterator[Event]:
        """The run's events. A conversation turn holds its claim on the conversation while it
        runs; saving releases it, and a turn that ends unsaved releases it here."""
        turn = run.turn
        claim, policy = turn.conversation, self._conversations
        holding = None
        if claim is not None and policy is not None:
            holding = asyncio.create_task(policy.hold(claim))
        try:
            async for event in self._run(run):
                yield event if run.terminal_only else shown_event(event, turn.disclosure)
        finally:
            if self._running is not None:
                self._running.end(turn.record.id)
            if holding is not None:
                holding.cancel()
            saved = run.outcome is not None and run.outcome.saved
            if claim is not None and policy is not None and not saved:
                await policy.release(claim)

    def _reasoning_of(self, tenant: str) -> ReasoningBoundary | None:
        seals = self._reasoning
        if seals is None:
            return None
        return ReasoningBoundary(
            seal=lambda payload: seals.seal(tenant, payload),
            open=lambda items: seals.view(tenant, items),
        )

    async def _run(self, run: TurnRun) -> AsyncIterator[Event]:
        turn, job = run.turn, run.turn.job
        seq = EventSequencer()
        loop = ToolLoop(
            turn.provider,
            turn.request,
            seq,
            plan=turn.server_tools,
            tools=self._tools,
            before_side_effects=job.note_side_effect if job is not None else None,
            reasoning=self._reasoning_of(turn.record.tenant),
        )
        if turn.preamble_usage is not None:
            loop.add_usage(turn.preamble_usage)
        assembler = loop.assembler
        if self._running is not None:
            # Its start's write is queued behind the first model call, made with no await
            # before it (the events up to then are handed over at once); a run read for its
            # end only writes its start only if it runs long (running_turns.py).
            self._running.begin(turn.record.id, assembler.output, deferred=run.terminal_only)
        if not run.terminal_only:
            started = response_object(turn.record, [])
            if job is None:
                yield seq.event("response.created", response=started)
            else:
                # As OpenAI streams a background response: created while queued, then queued.
                queued = {**started, "status": "queued"}
                yield seq.event("response.created", response=queued)
                yield seq.event("response.queued", response=queued)
            yield seq.event("response.in_progress", response=started)
        for item in turn.preamble:
            index, opened = assembler.add_item(item)
            for event in opened:
                yield event
            yield assembler.finish_item(index)

        interrupted = False
        try:
            try:
                async for out in loop.run():
                    yield out
                stop = Stop(finish=loop.finish, usage=loop.usage)
            except ThreadlineError as exc:
                stop = Stop(failure=exc, usage=loop.usage)
                # The code, never the message: an upstream's message may quote the prompt.
                log.warning(
                    "response %s failed upstream: %s (status %d)",
                    turn.record.id,
                    exc.code or "no code",
                    exc.status_code,
                )
            except asyncio.CancelledError:
                if job is not None and job.cancel_requested:
                    # Its client cancelled the background turn: it ends `cancelled`.
                    stop = Stop(cancelled=True, usage=loop.usage)
                elif job is not None:
                    # The server is shutting down: the job is given back to the queue (or
                    # failed, if it ran a step with side effects), not ended here.
                    run.outcome = await self._ender.give_back(turn, assembler)
                    raise
                else:
                    # The server is shutting down: end the turn as failed, saved and told to
                    # the client, then let the cancellation go on.
                    stop = Stop(failure=ShuttingDown(), usage=loop.usage)
                    interrupted = True
            if loop.served is not None:
                # Recorded with the response (the Response object has no field for it).
                turn.record.settings["deployment"] = loop.served
            closing, run.outcome = await self._ender.end(turn, assembler, stop)
            for out in closing:
                yield out
            outcome = run.outcome
            yield seq.event(
                outcome.terminal_event, response=response_object(outcome.response, outcome.output)
            )
            if interrupted:
                raise asyncio.CancelledError
        finally:
            if run.outcome is None:
                run.outcome = await self._ender.abandon(turn, assembler, loop.usage)
