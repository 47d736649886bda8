"""How a turn ends: the one place that decides its status, closes its items, saves it and says
what its client is told.

Every way a turn can stop goes through here: the model finished (`completed`, or `incomplete`
for a length or content-filter stop), the upstream failed, the save failed or was overtaken
by a delete of the response or its conversation, or the run was interrupted (server shutdown,
task cancelled). The running turn only reports what it observed (a `Stop`); the decision, the
closing of open items and the save are made here, once, into a `TurnOutcome`.

The turn is saved before its terminal event is sent, so a client that sees
`response.completed` can rely on the response being durable. Only completed and incomplete
turns are appended to a conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from threadline.engine.clock import Clock
from threadline.engine.responses.assembler import OutputAssembler
from threadline.engine.responses.events import Event
from threadline.engine.responses.prepared_turn import PreparedTurn
from threadline.engine.responses.response_object import response_error
from threadline.engine.responses.running_turns import SIDE_EFFECTS_RAN_ERROR, RunningTurns
from threadline.engine.usage.meter import Charge, UsageMeter, tool_calls_in, usage_report
from threadline.errors import ConversationDeleted, ResponseDeleted, ThreadlineError
from threadline.providers.base import Finish
from threadline.storage.base import Item, ResponseRecord, Store, TurnRecord

log = logging.getLogger(__name__)

_INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}
_TERMINAL_EVENTS = {
    "completed": "response.completed",
    "incomplete": "response.incomplete",
    "failed": "response.failed",
    # Neither OpenAI's spec nor Open Responses has an event for a cancelled stream: it ends
    # with the failure event, whose response says `cancelled`.
    "cancelled": "response.failed",
}
_INTERRUPTED = (
    "The response was interrupted before it finished (the server stopped or the request was "
    "cancelled)."
)


@dataclass(frozen=True, slots=True)
class Stop:
    """What the run observed when the model stopped producing: how it finished, or the failure
    that stopped it. Nothing is decided yet."""

    finish: Finish | None = None
    failure: ThreadlineError | None = None
    usage: dict[str, Any] | None = None
    cancelled: bool = False
    """Its client cancelled it (a background turn, `POST …/cancel`)."""


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    """How the turn ended: the response as it ends (and as saved, when `saved`), its output,
    and the error a client that does not stream is told instead of the Response, if any."""

    response: ResponseRecord
    output: list[Item]
    failure: ThreadlineError | None
    saved: bool

    @property
    def terminal_event(self) -> str:
        return _TERMINAL_EVENTS[self.response.status]


def _outcome(
    record: ResponseRecord, output: list[Item], failure: ThreadlineError | None, saved: bool
) -> TurnOutcome:
    if failure is not None and saved:
        # A non-streaming client gets the error, not the Response: say where the stored one is.
        failure.message += f" (The failed response was stored as '{record.id}'.)"
    return TurnOutcome(record, output, failure, saved)


class TurnEnder:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        running: RunningTurns | None,
        meter: UsageMeter | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._running = running
        self._meter = meter

    async def end(
        self, turn: PreparedTurn, assembler: OutputAssembler, stop: Stop
    ) -> tuple[list[Event], TurnOutcome]:
        """End a turn whose run stopped: the events that close its open items, and its
        outcome (saved, or failed because it could not be)."""
        record = self._decide(turn.record, stop)
        closing = assembler.finish("completed" if record.status == "completed" else "incomplete")
        await self._charge(turn, record, assembler.output)
        failure = stop.failure
        try:
            saved = await self._save(turn, record, assembler.output)
        except (ConversationDeleted, ResponseDeleted) as deleted:
            # The delete wins: the turn is not stored, and its client is told why.
            failure = deleted
        except Exception:
            log.exception("response %s could not be saved", record.id)
            failure = ThreadlineError("The response could not be saved: storage failed.")
        else:
            return closing, _outcome(record, assembler.output, failure, saved)
        failed = dataclasses.replace(
            record, status="failed", completed_at=None, error=response_error(failure)
        )
        return closing, TurnOutcome(failed, assembler.output, failure, saved=False)

    async def abandon(
        self, turn: PreparedTurn, assembler: OutputAssembler, usage: dict[str, Any] | None
    ) -> TurnOutcome:
        """End a turn whose run was cut off before it could end (its task cancelled, or its
        events no longer read): keep what the model said so far, marked failed. Best effort,
        and shielded, since the cancellation that got here must not cut the save short too."""
        failure = ThreadlineError(_INTERRUPTED)
        record = dataclasses.replace(
            turn.record, status="failed", error=response_error(failure), usage=usage
        )
        assembler.finish("incomplete")
        saved = False
        with contextlib.suppress(Exception):
            await asyncio.shield(self._charge(turn, record, assembler.output))
            saved = await asyncio.shield(self._save(turn, record, assembler.output))
        return _outcome(record, assembler.output, failure, saved)

    async def give_back(self, turn: PreparedTurn, assembler: OutputAssembler) -> TurnOutcome:
        """Give a background turn cut off by shutdown back to its queue: it runs again from
        the start (or ends `failed`, if it ran a step with side effects). Shielded, like
        `abandon`."""
        queued = False
        try:
            queued = await asyncio.shield(
                self._store.requeue_job(turn.record.id, SIDE_EFFECTS_RAN_ERROR)
            )
        except Exception:
            log.warning("response %s could not be given back to the queue", turn.record.id)
        status = "queued" if queued else "failed"
        record = dataclasses.replace(turn.record, status=status)
        return TurnOutcome(record, assembler.output, None, saved=False)

    async def _charge(self, turn: PreparedTurn, record: ResponseRecord, output: list[Item]) -> None:
        """Charge what the turn's model calls used: whatever its end, once it called the
        model (a turn that failed upstream before any usage was reported costs nothing)."""
        if self._meter is None or record.usage is None:
            return
        settings = record.settings
        await self._meter.charge(
            Charge(
                tenant=record.tenant,
                payer=turn.payer,
                kind="response",
                model=record.model,
                deployment=turn.request.model,
                usage=usage_report(record.usage),
                started_at=record.created_at,
                object_id=record.id,
                end_user=self._meter.end_user(
                    settings.get("user"),
                    settings.get("safety_identifier"),
                    settings.get("metadata"),
                ),
                tool_calls=tool_calls_in(output),
            )
        )

    def _decide(self, started: ResponseRecord, stop: Stop) -> ResponseRecord:
        record = dataclasses.replace(started, usage=stop.usage)
        if stop.cancelled:
            return dataclasses.replace(record, status="cancelled")
        if stop.failure is not None:
            return dataclasses.replace(record, status="failed", error=response_error(stop.failure))
        reason = stop.finish.reason if stop.finish is not None else "stop"
        if reason in _INCOMPLETE_REASONS:
            return dataclasses.replace(
                record,
                status="incomplete",
                incomplete_details={"reason": _INCOMPLETE_REASONS[reason]},
            )
        return dataclasses.replace(record, status="completed", completed_at=self._clock())

    async def _save(self, turn: PreparedTurn, record: ResponseRecord, output: list[Item]) -> bool:
        """Save the ended turn; False when it is not stored (`store: false`)."""
        if not turn.store:
            return False
        started = self._running is not None and await self._running.stored(record.id)
        await self._store.save_turn(
            TurnRecord(
                response=record,
                input_items=turn.input_items,
                output_items=output,
                append_to_conversation=record.conversation_id is not None
                and record.status in ("completed", "incomplete"),
                background=turn.job is not None,
                started=started,
            )
        )
        return True
