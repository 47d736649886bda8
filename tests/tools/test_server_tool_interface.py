"""The server-side tool interface: the model sees a tool call the same way right after it ran
and on every later turn, and a new kind of tool needs only its own module to run in the tool
loop (its registry line is what puts it in requests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.tools.conftest import mcp_tool
from tests.tools.mcp_server import McpTestServer
from threadline import ids
from threadline.engine.responses.events import Event, EventSequencer
from threadline.engine.responses.server_tools.base import (
    KindPlan,
    PlanContext,
    ServerFunction,
    ServerToolKind,
    ToolSteps,
    call_and_output,
)
from threadline.engine.responses.server_tools.plan import ServerToolPlan, replayed
from threadline.engine.responses.tool_choice import ClientChoice
from threadline.engine.responses.tool_loop import ToolLoop
from threadline.providers.base import (
    EmbeddingRequest,
    Embeddings,
    Finish,
    ProviderCapabilities,
    ProviderEvent,
    ProviderRequest,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
)
from threadline.storage.base import Item
from threadline.tools.base import ServerTools


def _tool_exchange(messages: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The assistant message calling `name` and the tool message answering it."""
    at = next(
        i
        for i, m in enumerate(messages)
        if any(c["function"]["name"] == name for c in m.get("tool_calls") or ())
    )
    return messages[at : at + 2]


@pytest.mark.parametrize(
    ("tool", "call", "function"),
    [
        ("mcp", 'call mcp__dice__roll {"expr": "2d4+1"}', "mcp__dice__roll"),
        ("web_search", 'call web_search {"query": "dice rules"}', "web_search"),
    ],
)
def test_a_tool_call_looks_the_same_to_the_model_in_its_turn_and_later(
    tools_client: openai.OpenAI,
    fake: FakeUpstream,
    mcp_server: McpTestServer,
    tool: str,
    call: str,
    function: str,
) -> None:
    tools = [
        mcp_tool(mcp_server.url, require_approval="never")
        if tool == "mcp"
        else {"type": "web_search"}
    ]
    first = tools_client.responses.create(model=MODEL, input=call, tools=tools)  # type: ignore[arg-type]
    in_turn = _tool_exchange(fake.last_request()["body"]["messages"], function)
    tools_client.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input="and then?",
        tools=tools,  # type: ignore[arg-type]
    )
    later = _tool_exchange(fake.last_request()["body"]["messages"], function)
    assert later == in_turn
    assert in_turn[1]["role"] == "tool" and in_turn[1]["content"]


# -- a kind of tool written for this test, run by the real tool loop ------------------------------


@dataclass
class _ClockPlan(KindPlan):
    kind: ServerToolKind

    def functions(self) -> list[ServerFunction]:
        spec = {"type": "function", "name": "clock", "parameters": {"type": "object"}}
        return [ServerFunction("clock", spec, self)]

    async def run(
        self, function: ServerFunction, arguments: str, steps: ToolSteps
    ) -> AsyncIterator[Event]:
        item = {"id": ids.new_id("clk"), "type": "clock_call", "time": "12:00"}
        index, events = steps.out.add_item(item)
        for event in [*events, steps.out.finish_item(index)]:
            yield event


class _ClockKind(ServerToolKind):
    tool_types = ("clock",)
    item_types = frozenset({"clock_call"})

    def plan(self, entries: Sequence[tuple[int, Any]], context: PlanContext) -> KindPlan:
        return _ClockPlan(self)

    def echo(self, tool: Any) -> dict[str, Any]:
        return {"type": "clock"}

    def replay(self, item: Item, items: Sequence[Item]) -> list[Item]:
        return call_and_output(item["id"], "clock", "{}", f"It is {item['time']}.")


class _Model:
    """A model that calls `clock` once, then says what it was told."""

    name = "test"
    capabilities = ProviderCapabilities()

    def __init__(self, thinks: str | None = None) -> None:
        self.requests: list[ProviderRequest] = []
        self.thinks = thinks

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        self.requests.append(request)
        told = [i for i in request.items if i.get("type") == "function_call_output"]
        if not told:
            if self.thinks is not None:
                yield ReasoningDelta(self.thinks)
            yield ToolCallDelta(0, "{}", call_id="call_x", name="clock")
            yield Finish("tool_calls")
            return
        yield TextDelta(f"told: {told[-1]['output']}")
        yield Finish("stop")

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        raise NotImplementedError

    async def list_models(self, api_key: str | None = None) -> list[str]:
        return []

    async def aclose(self) -> None:
        return None


class _NoTools:
    async def aclose(self) -> None:
        return None


def _clock_loop(kind: _ClockKind, model: _Model) -> ToolLoop:
    plan = ServerToolPlan([kind.plan([(0, {"type": "clock"})], None)], ClientChoice())  # type: ignore[arg-type]
    tools = ServerTools(mcp=_NoTools(), fetcher=_NoTools())  # type: ignore[arg-type]
    return ToolLoop(
        model,
        ProviderRequest(model="m", items=[{"type": "message", "role": "user", "content": "?"}]),
        EventSequencer(),
        plan=plan,
        tools=tools,
    )


async def test_a_new_kind_of_server_tool_runs_with_only_its_own_module() -> None:
    kind = _ClockKind()
    model = _Model()
    loop = _clock_loop(kind, model)
    events = [event async for event in loop.run()]
    events += loop.assembler.finish("completed")
    kinds = [item["type"] for item in loop.assembler.output]
    assert kinds == ["clock_call", "message"]
    assert loop.assembler.output[1]["content"][0]["text"] == "told: It is 12:00."
    # The model was offered the kind's function, and given the call as the kind replays it.
    assert [t["name"] for t in model.requests[0].tools] == ["clock"]
    clock_call = loop.assembler.output[0]
    assert model.requests[1].items[1:] == kind.replay(clock_call, [clock_call])
    # On later turns the registry decides who replays an item: without its line, no one does.
    assert replayed([clock_call]) == [clock_call]
    assert any(e["type"] == "response.output_item.done" for e in events)


async def test_the_models_reasoning_before_a_server_call_is_given_back_with_the_call() -> None:
    """Within the turn as on later turns: a provider that seals reasoning (Anthropic's
    thinking) needs it back beside the tool calls it led to."""
    kind, model = _ClockKind(), _Model(thinks="the clock will know")
    loop = _clock_loop(kind, model)
    [event async for event in loop.run()]
    reasoning, clock_call = loop.assembler.output[:2]
    assert reasoning["type"] == "reasoning"
    given = model.requests[1].items[1:]
    assert given == [reasoning, *kind.replay(clock_call, [clock_call])]
