"""Run one prepared turn: stream the provider (and the server-side tools the model calls, in
`tool_loop.py`), assemble output, save, and say how it ended.

The turn is saved once, atomically, just before its terminal event, so a client that sees
`response.completed` can rely on the response being durable. A turn that is interrupted
(server shutdown, task cancelled) is still saved, as `failed`, in a `finally` that the
cancellation cannot skip. Only completed and incomplete turns are appended to a conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from threadline.engine.clock import Clock
from threadline.engine.conversations import ConversationPolicy, ConversationTurn
from threadline.engine.events import Event, EventSequencer
from threadline.engine.response_object import response_error, response_object
from threadline.engine.running_turns import RunningTurns
from threadline.engine.server_tools import ServerToolPlan
from threadline.engine.tool_loop import ToolLoop
from threadline.errors import (
    ConversationDeleted,
    ResponseDeleted,
    ShuttingDown,
    ThreadlineError,
)
from threadline.providers.base import Finish, ModelProvider, ProviderRequest
from threadline.storage.base import Item, ResponseRecord, Store, TurnRecord
from threadline.tools.base import ServerTools

log = logging.getLogger(__name__)

_INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


@dataclass(slots=True)
class PreparedTurn:
    """A turn whose request was validated and whose context was loaded: it can only fail
    upstream from here on."""

    record: ResponseRecord
    input_items: list[Item]
    provider: ModelProvider
    request: ProviderRequest
    store: bool
    failure: ThreadlineError | None = None
    """Set when the provider failed; the turn then ends `response.failed`."""
    saved: bool = False
    server_tools: ServerToolPlan | None = None
    """The server-side tools (MCP, web search) this turn may run."""
    conversation: ConversationTurn | None = None
    """The turn's claim on its conversation, held until the turn is saved."""


class TurnRunner:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        tools: ServerTools | None = None,
        conversations: ConversationPolicy | None = None,
        running: RunningTurns | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._tools = tools
        self._conversations = conversations
        self._running = running

    async def run(self, turn: PreparedTurn) -> AsyncIterator[Event]:
        """OpenAI's stream events for the turn, ending with exactly one terminal event. A
        conversation turn holds its claim on the conversation while it runs; saving releases
        it, and a turn that ends unsaved releases it here."""
        claim, policy = turn.conversation, self._conversations
        holding = None
        if claim is not None and policy is not None:
            holding = asyncio.create_task(policy.hold(claim))
        try:
            async for event in self._run(turn):
                yield event
        finally:
            if self._running is not None:
                self._running.end(turn.record.id)
            if holding is not None:
                holding.cancel()
            if claim is not None and policy is not None and not turn.saved:
                await policy.release(claim)

    async def _run(self, turn: PreparedTurn) -> AsyncIterator[Event]:
        record = turn.record
        seq = EventSequencer()
        loop = ToolLoop(
            record,
            turn.provider,
            turn.request,
            seq,
            plan=turn.server_tools,
            tools=self._tools,
        )
        assembler = loop.assembler
        if self._running is not None:
            self._running.show(record.id, assembler.output)
        yield seq.event("response.created", response=response_object(record, []))
        yield seq.event("response.in_progress", response=response_object(record, []))

        finish: Finish | None = None
        failure: ThreadlineError | None = None
        saved = interrupted = False
        try:
            try:
                async for out in loop.run():
                    yield out
                finish = loop.finish
            except ThreadlineError as exc:
                failure = turn.failure = exc
                # The code, never the message: an upstream's message may quote the prompt.
                log.warning(
                    "response %s failed upstream: %s (status %d)",
                    record.id,
                    exc.code or "no code",
                    exc.status_code,
                )
            except asyncio.CancelledError:
                # The server is shutting down: end the turn as failed, saved and told to the
                # client, then let the cancellation go on.
                failure = turn.failure = ShuttingDown()
                interrupted = True

            terminal = self._conclude(record, finish, failure)
            item_status = "completed" if record.status == "completed" else "incomplete"
            for out in assembler.finish(item_status):
                yield out
            terminal = await self._save_ended(turn, assembler.output, terminal)
            saved = True
            yield seq.event(terminal, response=response_object(record, assembler.output))
            if interrupted:
                raise asyncio.CancelledError
        finally:
            if not saved:
                # Interrupted: keep what the model said so far, marked failed.
                record.status = "failed"
                record.error = response_error(
                    ThreadlineError(
                        "The response was interrupted before it finished "
                        "(the server stopped or the request was cancelled)."
                    )
                )
                assembler.finish("incomplete")
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._save(turn, assembler.output))

    async def _save_ended(self, turn: PreparedTurn, output: list[Item], terminal: str) -> str:
        """Save the ended turn; the terminal event to send, `response.failed` if it could not
        be saved."""
        record = turn.record
        try:
            await self._save(turn, output)
        except (ConversationDeleted, ResponseDeleted) as deleted:
            # The delete wins: the turn is not stored, and its client is told why.
            turn.failure = deleted
        except Exception:
            log.exception("response %s could not be saved", record.id)
            turn.failure = ThreadlineError("The response could not be saved: storage failed.")
        else:
            return terminal
        record.status, record.completed_at = "failed", None
        record.error = response_error(turn.failure)
        return "response.failed"

    def _conclude(
        self, record: ResponseRecord, finish: Finish | None, failure: ThreadlineError | None
    ) -> str:
        if failure is not None:
            record.status = "failed"
            record.error = response_error(failure)
            return "response.failed"
        reason = finish.reason if finish is not None else "stop"
        if reason in _INCOMPLETE_REASONS:
            record.status = "incomplete"
            record.incomplete_details = {"reason": _INCOMPLETE_REASONS[reason]}
            return "response.incomplete"
        record.status = "completed"
        record.completed_at = self._clock()
        return "response.completed"

    async def _save(self, turn: PreparedTurn, output: list[Item]) -> None:
        if not turn.store:
            return
        record = turn.record
        if self._running is not None:
            await self._running.stored(record.id)
        await self._store.save_turn(
            TurnRecord(
                response=record,
                input_items=turn.input_items,
                output_items=output,
                append_to_conversation=record.conversation_id is not None
                and record.status in ("completed", "incomplete"),
                started=self._running is not None,
            )
        )
        turn.saved = True
