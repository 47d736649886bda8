"""The model, and the server-side tools it calls, until it answers.

    list the MCP servers' tools (unless listed earlier in the chain or conversation)
    run the calls the client approved in this turn's input
    repeat: call the model → it calls server-side tools → run them → give it their results
    until it answers without calling one, calls a client function, needs an approval, or the
    limits stop it: `max_tool_calls` (server-side calls per response) and the iteration cap.

On the last model call the limits allow, server-side tools are no longer offered, so the model
answers with what it has. Every model call's output lands in the one response, and usage sums.

A turn with no server-side tools is one model call, exactly as before tools existed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from threadline import ids
from threadline.engine.assembler import OutputAssembler, ServerCall
from threadline.engine.events import Event, EventSequencer
from threadline.engine.response_object import usage_object
from threadline.engine.server_tools import (
    ServerFunction,
    ServerToolPlan,
    mcp_function,
    web_search_function,
)
from threadline.engine.tool_steps import Outcome, ToolSteps
from threadline.providers.base import (
    Finish,
    ModelProvider,
    ProviderRequest,
    ReasoningDelta,
    ReasoningSealed,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    UsageReport,
)
from threadline.storage.base import Item, ResponseRecord
from threadline.tools.base import ServerTools

_ENDS_TURN = ("length", "content_filter")


class ToolLoop:
    def __init__(
        self,
        record: ResponseRecord,
        provider: ModelProvider,
        request: ProviderRequest,
        events: EventSequencer,
        *,
        plan: ServerToolPlan | None = None,
        tools: ServerTools | None = None,
    ) -> None:
        self._record = record
        self._provider = provider
        self._request = request
        self._plan = plan
        self._tools = tools
        self._functions: dict[str, ServerFunction] = {}
        self.assembler = OutputAssembler(events, server_tools=self._functions)
        self.finish: Finish | None = None
        """How the last model call ended."""
        self._usage = [0, 0, 0, 0]

    async def run(self) -> AsyncIterator[Event]:
        plan, tools = self._plan, self._tools
        if plan is None or tools is None:
            async for event in self._model_call(self._request):
                yield event
            return
        steps = ToolSteps(tools, self.assembler)
        for server in plan.mcp:
            if server.listed is None:
                async for event in steps.list_tools(server):
                    yield event
            for tool in server.listed or ():
                if server.allows(tool["name"], tool.get("annotations")):
                    function = mcp_function(server, tool)
                    self._functions.setdefault(function.name, function)
        if plan.web_search is not None:
            self._functions[web_search_function().name] = web_search_function()

        context: list[Item] = []
        """What the model is given after the turn's context: its answers so far, and each
        server-side call with its result as a function call and its output."""
        calls_made = 0
        for approved in plan.approved:
            request = approved.request
            function = mcp_function(approved.server, {"name": request["name"]})
            outcome = Outcome()
            async for event in steps.mcp_call(
                function, request["arguments"], outcome, approval_request_id=request["id"]
            ):
                yield event
            context += _call_and_result(
                ids.new_id(ids.CALL), function.name, request["arguments"], outcome.text
            )
            calls_made += 1

        iterations = tools.max_iterations
        for iteration in range(iterations):
            offer = iteration < iterations - 1 and (
                plan.max_tool_calls is None or calls_made < plan.max_tool_calls
            )
            start = len(self.assembler.output)
            async for event in self._model_call(self._next_request(iteration, context, offer)):
                yield event
            calls = self.assembler.take_server_calls()
            if not calls or not offer or (self.finish and self.finish.reason in _ENDS_TURN):
                return
            for event in self.assembler.finish("completed"):
                yield event
            produced = self.assembler.output[start:]
            context += [item for item in produced if item["type"] == "message"]
            stop = any(item["type"] == "function_call" for item in produced)
            for call in calls:
                if plan.max_tool_calls is not None and calls_made >= plan.max_tool_calls:
                    break
                function = self._functions[call.name]
                if function.server is not None and function.server.needs_approval(
                    function.tool_name, function.annotations
                ):
                    for event in steps.approval_request(function, call.arguments):
                        yield event
                    stop = True
                    continue
                outcome = Outcome()
                async for event in self._run_call(steps, function, call, outcome):
                    yield event
                context += _call_and_result(call.call_id, call.name, call.arguments, outcome.text)
                calls_made += 1
            if stop:
                return

    def _run_call(
        self, steps: ToolSteps, function: ServerFunction, call: ServerCall, outcome: Outcome
    ) -> AsyncIterator[Event]:
        if function.kind == "web_search" and self._plan and self._plan.web_search:
            return steps.web_search(self._plan.web_search, call.arguments, outcome)
        return steps.mcp_call(function, call.arguments, outcome)

    def _next_request(self, iteration: int, context: list[Item], offer: bool) -> ProviderRequest:
        base, plan = self._request, self._plan
        offered = [
            f.spec for f in self._functions.values() if offer and (plan is None or plan.offers(f))
        ]
        tools = [*base.tools, *offered]
        choice = base.tool_choice
        names_server_tool = isinstance(choice, dict) and choice.get("name") in self._functions
        if iteration == 0 and offer and plan is not None and plan.first_choice is not None:
            choice = plan.first_choice
        elif iteration > 0 and (choice == "required" or names_server_tool):
            choice = "auto"  # else the model must call a tool again, for ever
        if not tools or (not offer and names_server_tool):
            choice = None
        return dataclasses.replace(
            base, items=[*base.items, *context], tools=tools, tool_choice=choice
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
                for out in self.assembler.on_reasoning_sealed(event):
                    yield out
            elif isinstance(event, UsageReport):
                self._add_usage(event)
            else:
                self.finish = event

    def _add_usage(self, event: UsageReport) -> None:
        """Usage is the sum over the model calls of the turn."""
        reported = (
            event.input_tokens,
            event.output_tokens,
            event.cached_tokens,
            event.reasoning_tokens,
        )
        self._usage = [total + more for total, more in zip(self._usage, reported, strict=True)]
        self._record.usage = usage_object(*self._usage)


def _call_and_result(call_id: str, name: str, arguments: str, output: str) -> list[dict[str, Any]]:
    return [
        {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments},
        {"type": "function_call_output", "call_id": call_id, "output": output},
    ]
