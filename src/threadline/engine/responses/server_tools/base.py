"""The server-side tool interface: what a kind of tool Threadline runs itself (MCP, web search)
provides, so that the tool loop, the response and later turns handle every kind alike.

A kind (`ServerToolKind`, one module each, listed in `registry.py`):

- `plan`s a request's `tools[]` entries of its types into a `KindPlan` for the turn, raising
  every 400 about them before the turn starts;
- `echo`es an entry as the Response's `tools` shows it (never its credentials);
- `replay`s the items it produced as what the model sees of them: a function call and its
  output, the same within the turn (right after the call ran) and on every later turn.

A turn's `KindPlan` offers the model functions (`ServerFunction`), may run steps before the
first model call (`prepare`: list an MCP server's tools, run calls the client approved), and
`run`s each call the model makes, adding its items and their stream events through `ToolSteps`.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from threadline.engine.responses.assembler import OutputAssembler
from threadline.engine.responses.events import Event
from threadline.engine.vector_stores.search import VectorSearch
from threadline.protocol.responses import ResponseCreateParams
from threadline.storage.base import Item
from threadline.tools.base import ServerTools, ToolFailure

_INVALID_PARAMS = -32602  # JSON-RPC's code for bad arguments


@dataclass(slots=True)
class ServerFunction:
    """One function the model is offered that Threadline runs itself."""

    name: str
    spec: dict[str, Any]
    """The function definition in the Responses shape (ProviderRequest.tools)."""
    plan: KindPlan
    """The plan of the kind that runs it."""
    detail: Any = None
    """What the kind needs to run it (an MCP tool's own name and annotations…)."""


@dataclass(slots=True)
class PlanContext:
    """What a kind may read while planning a turn."""

    tenant: str
    params: ResponseCreateParams
    history: list[Item]
    input_items: list[Item]
    tools: ServerTools | None
    file_search: VectorSearch | None = None
    """Vector store search, for the file_search kind (None where it is not wired)."""
    api_key: str | None = None
    """The caller's provider key in bring-your-own-key mode (embedding a search's query)."""


class ToolSteps:
    """Where a kind's steps write: the turn's output items and their stream events."""

    def __init__(self, tools: ServerTools, assembler: OutputAssembler) -> None:
        # (a turn with server-side tools always has them: `plan_server_tools` checks)
        self.tools = tools
        self.out = assembler


class KindPlan(ABC):
    """One kind's part of a turn."""

    kind: ServerToolKind

    async def check(self) -> None:  # noqa: B027 (a hook: most kinds need no check)
        """The checks that need the store (each raises its 4xx before the turn starts)."""

    def prepare(self, steps: ToolSteps) -> AsyncIterator[Event]:
        """Steps before the first model call; nothing by default."""
        return _nothing()

    @abstractmethod
    def functions(self) -> list[ServerFunction]:
        """The functions offered to the model (after `prepare`)."""

    def allowed_by(self, function: ServerFunction, entry: dict[str, Any]) -> bool:
        """Whether a `tool_choice.allowed_tools` entry lets the model call `function`."""
        return False

    def needs_approval(self, function: ServerFunction) -> bool:
        return False

    def request_approval(
        self, function: ServerFunction, arguments: str, steps: ToolSteps
    ) -> list[Event]:
        """End the turn's use of `function` with an approval request (only for a function
        `needs_approval` holds; a plan that never needs one keeps this refusal)."""
        raise RuntimeError(f"{type(self).__name__} was asked for an approval it never needs")

    @abstractmethod
    def run(
        self, function: ServerFunction, arguments: str, steps: ToolSteps
    ) -> AsyncIterator[Event]:
        """Run one call the model made: add its item(s) and stream their events. A failing tool
        becomes an item with its error (which the model is told), never a failed response."""

    def calls_made_before(self) -> int:
        """Calls `prepare` ran (they count against `max_tool_calls`)."""
        return 0


class ServerToolKind(ABC):
    tool_types: tuple[str, ...]
    """The `tools[].type` values this kind serves."""
    item_types: frozenset[str]
    """The output item types it produces, replayed to the model on later turns."""
    side_effects: bool = True
    """Whether running its calls may change something outside Threadline: a background turn
    that ran one is not run again after a crash. Only a kind that only reads says False."""

    @abstractmethod
    def plan(self, entries: Sequence[tuple[int, Any]], context: PlanContext) -> KindPlan:
        """This turn's plan for the request's `tools` entries of this kind (with their
        indexes, for the 400s that name them)."""

    @abstractmethod
    def echo(self, tool: Any) -> dict[str, Any]:
        """The entry as the Response's `tools` echoes it."""

    @abstractmethod
    def replay(self, item: Item, items: Sequence[Item]) -> list[Item]:
        """What the model sees of `item` (one of `item_types`), among `items`: a
        function_call and its function_call_output, or nothing."""


def call_and_output(item_id: str, name: str, arguments: str, output: str) -> list[Item]:
    """A server-side tool call as the model sees it. The call id is derived from the item id:
    stable across turns, and short (some servers cap ids at 40 characters)."""
    call_id = "call_" + hashlib.sha256(item_id.encode()).hexdigest()[:24]
    return [
        {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments},
        {"type": "function_call_output", "call_id": call_id, "output": output},
    ]


def arguments_object(arguments: str) -> dict[str, Any]:
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ToolFailure(
            "The tool arguments are not a JSON object.",
            kind="mcp_protocol_error",
            code=_INVALID_PARAMS,
        )
    return parsed


async def _nothing() -> AsyncIterator[Event]:
    return
    yield  # pragma: no cover - makes this an async generator
