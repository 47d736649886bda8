"""The model, and the server-side tools it calls, until it answers.

    prepare each kind's part (list MCP servers' tools, run the calls the client approved)
    repeat: call the model → it calls server-side tools → run them → give it their results
    until it answers without calling one, calls a client function, needs an approval, or the
    limits stop it: `max_tool_calls` (server-side calls per response) and the iteration cap.

On the last model call the limits allow, server-side tools are no longer offered, so the model
answers with what it has. Every model call's output lands in the one response, and usage sums.
What the model is given after each call is its answer and each server-side call replayed by
its kind, exactly as later turns will show them (`ServerToolKind.replay`).

A turn with no server-side tools is one model call, exactly as before tools existed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from threadline.engine.responses.assembler import OutputAssembler
from threadline.engine.responses.events import Event, EventSequencer
from threadline.engine.responses.response_object import usage_object
from threadline.engine.responses.server_tools.base import KindPlan, ToolSteps
from threadline.engine.responses.server_tools.plan import ServerToolPlan
from threadline.engine.responses.tool_choice import choice_for_call
from threadline.providers.base import (
    Finish,
    ModelProvider,
    ProviderRequest,
    ReasoningDelta,
    ReasoningSealed,
    RefusalDelta,
    Served,
    TextDelta,
    ToolCallDelta,
    UsageReport,
)
from threadline.storage.base import Item
from threadline.tools.base import ServerTools

_ENDS_TURN = ("length", "content_filter")
_SAID = ("message", "reasoning")


@dataclasses.dataclass(frozen=True, slots=True)
class ReasoningBoundary:
    """How a turn's reasoning crosses the server's edge (sealed_reasoning.py): a provider's
    sealed payload is sealed by us as it arrives, and opened again for the next model call."""

    seal: Callable[[str], str]
    open: Callable[[list[Item]], list[Item]]


class ToolLoop:
    def __init__(
        self,
        provider: ModelProvider,
        request: ProviderRequest,
        events: EventSequencer,
        *,
        plan: ServerToolPlan | None = None,
        tools: ServerTools | None = None,
        before_side_effects: Callable[[], Awaitable[None]] | None = None,
        reasoning: ReasoningBoundary | None = None,
    ) -> None:
        self._reasoning = reasoning
        self._before_side_effects = before_side_effects
        """Awaited before a step of a kind with side effects runs (a background job notes it)."""
        self._provider = provider
        self._request = request
        self._plan = plan
        self._tools = tools
        functions = plan.functions if plan is not None else {}
        self.assembler = OutputAssembler(events, server_tools=functions)
        self.finish: Finish | None = None
        """How the last model call ended."""
        self._usage = [0, 0, 0, 0]
        self.usage: dict[str, Any] | None = None
        """The usage object, summed over the turn's model calls (None until one reports)."""
        self.served: str | None = None
        """The deployment of a model alias that answered last (None for a plain model)."""

    async def run(self) -> AsyncIterator[Event]:
        plan, tools = self._plan, self._tools
        if plan is None or tools is None:
            async for event in self._model_call(self._request):
                yield event
            return
        steps = ToolSteps(tools, self.assembler)
        output = self.assembler.output
        context: list[Item] = []
        """What the model is given after the turn's context: its answers so far, and each
        server-side call replayed by its kind as a function call and its output."""
        calls_made = 0
        for kind_plan in plan.plans:
            start = len(output)
            await self._may_have_side_effects(kind_plan)
            async for event in kind_plan.prepare(steps):
                yield event
            context += _replayed_by(kind_plan, output, start)
            calls_made += kind_plan.calls_made_before()
        plan.collect_functions()

        iterations = tools.max_iterations
        for iteration in range(iterations):
            offer = iteration < iterations - 1 and (
                plan.max_tool_calls is None or calls_made < plan.max_tool_calls
            )
            start = len(output)
            async for event in self._model_call(self._next_request(iteration, context, offer)):
                yield event
            calls = self.assembler.take_server_calls()
            if not calls or not offer or (self.finish and self.finish.reason in _ENDS_TURN):
                return
            for event in self.assembler.finish("completed"):
                yield event
            # What the model said, its reasoning included, as a later turn's history holds it
            # (a provider that seals reasoning needs it back beside the calls that followed).
            context += [item for item in output[start:] if item["type"] in _SAID]
            stop = any(item["type"] == "function_call" for item in output[start:])
            for call in calls:
                if plan.max_tool_calls is not None and calls_made >= plan.max_tool_calls:
                    break
                function = plan.functions[call.name]
                if function.plan.needs_approval(function):
                    for event in function.plan.request_approval(function, call.arguments, steps):
                        yield event
                    stop = True
                    continue
                ran_from = len(output)
                await self._may_have_side_effects(function.plan)
                async for event in function.plan.run(function, call.arguments, steps):
                    yield event
                context += _replayed_by(function.plan, output, ran_from)
                calls_made += 1
            if stop:
                return

    async def _may_have_side_effects(self, kind_plan: KindPlan) -> None:
        if kind_plan.kind.side_effects and self._before_side_effects is not None:
            await self._before_side_effects()

    def _next_request(self, iteration: int, context: list[Item], offer: bool) -> ProviderRequest:
        base, plan = self._request, self._plan
        assert plan is not None  # only turns with server-side tools loop
        offered = [f.spec for f in plan.offered()] if offer else []
        tools = [*base.tools, *offered]
        choice = choice_for_call(
            plan.choice,
            first_call=iteration == 0,
            offers_server_tools=offer,
            server_functions=plan.functions,
            any_tools=bool(tools),
        )
        said = context if self._reasoning is None else self._reasoning.open(context)
        return dataclasses.replace(
            base, items=[*base.items, *said], tools=tools, tool_choice=choice
        )

    async def _model_call(self, request: ProviderRequest) -> AsyncIterator[Event]:
        self.finish = None
        self.assembler.next_model_call()
        async for event in self._provider.stream(request):
            if isinstance(event, TextDelta):
                for out in self.assembler.on_text(event):
                    yield out
            elif isinstance(event, ToolCallDelta):
                for out in self.assembler.on_tool_call(event):
                    yield out
            elif isinstance(event, ReasoningDelta):
                for out in self.assembler.on_reasoning(event):
                    yield out
            elif isinstance(event, RefusalDelta):
                for out in self.assembler.on_refusal(event):
                    yield out
            elif isinstance(event, ReasoningSealed):
                sealed = event
                if self._reasoning is not None:
                    sealed = ReasoningSealed(self._reasoning.seal(event.encrypted_content))
                for out in self.assembler.on_reasoning_sealed(sealed):
                    yield out
            elif isinstance(event, UsageReport):
                self.add_usage(event)
            elif isinstance(event, Served):
                self.served = event.deployment
            else:
                self.finish = event

    def add_usage(self, event: UsageReport) -> None:
        """Usage is the sum over the model calls of the turn (a compaction's included)."""
        reported = (
            event.input_tokens,
            event.output_tokens,
            event.cached_tokens,
            event.reasoning_tokens,
        )
        self._usage = [total + more for total, more in zip(self._usage, reported, strict=True)]
        self.usage = usage_object(*self._usage)


def _replayed_by(plan: KindPlan, output: list[Item], start: int) -> list[Item]:
    """The items a kind's step added, as the model sees them (the kind replays its own)."""
    seen: list[Item] = []
    for item in output[start:]:
        seen += plan.kind.replay(item, output) if item["type"] in plan.kind.item_types else [item]
    return seen
