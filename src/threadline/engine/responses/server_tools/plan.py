"""A turn's server-side tools: each kind's plan, the functions the model is offered, and how
`tool_choice` narrows them. Every 400 about them is raised here, before the turn starts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from threadline.engine.responses.server_tools.base import KindPlan, PlanContext, ServerFunction
from threadline.engine.responses.server_tools.registry import KINDS, kind_of_item, kind_of_tool
from threadline.engine.responses.tool_choice import ClientChoice
from threadline.errors import UnsupportedParameter
from threadline.protocol.tools import FunctionTool
from threadline.storage.base import Item


@dataclass(slots=True)
class ServerToolPlan:
    plans: list[KindPlan]
    choice: ClientChoice
    max_tool_calls: int | None = None
    functions: dict[str, ServerFunction] = field(default_factory=dict)
    """Filled once the plans are prepared: name → function."""

    async def check(self) -> None:
        for plan in self.plans:
            await plan.check()

    def collect_functions(self) -> None:
        for plan in self.plans:
            for function in plan.functions():
                self.functions.setdefault(function.name, function)

    def offered(self) -> list[ServerFunction]:
        allowed = self.choice.allowed_server_tools
        return [
            f
            for f in self.functions.values()
            if allowed is None or any(f.plan.allowed_by(f, entry) for entry in allowed)
        ]


def plan_server_tools(context: PlanContext, choice: ClientChoice) -> ServerToolPlan | None:
    """The plan, or None when the turn runs no server-side tool."""
    params = context.params
    by_kind: dict[int, list[tuple[int, Any]]] = {}
    for index, tool in enumerate(params.tools or ()):
        kind = None if isinstance(tool, FunctionTool) else kind_of_tool(tool.type)
        if kind is not None:
            by_kind.setdefault(KINDS.index(kind), []).append((index, tool))
    if not by_kind:
        return None
    if context.tools is None:
        raise UnsupportedParameter("Server-side tools are not available on this server.")
    plans = [KINDS[number].plan(entries, context) for number, entries in sorted(by_kind.items())]
    return ServerToolPlan(plans, choice, params.max_tool_calls)


def echoed_tools(tools: Sequence[object] | None) -> list[dict[str, Any]]:
    """`tools` as the Response object echoes them."""
    echoed: list[dict[str, Any]] = []
    for tool in tools or ():
        if isinstance(tool, FunctionTool):
            dump = tool.model_dump(exclude_none=True)
            echoed.append({"parameters": None, "strict": None, "description": None, **dump})
            continue
        kind = kind_of_tool(getattr(tool, "type", ""))
        if kind is not None:
            echoed.append(kind.echo(tool))
    return echoed


def replays_any(item_types: Iterable[str]) -> bool:
    """Whether a context holding items of these types has any that `replayed` changes."""
    return any(kind_of_item(item_type) is not None for item_type in item_types)


def replayed(items: list[Item]) -> list[Item]:
    """`items` as the model sees them: every server-side tool item replayed by its kind (a
    function call and its output, or nothing)."""
    seen: list[Item] = []
    for item in items:
        kind = kind_of_item(str(item.get("type", "message")))
        if kind is None:
            seen.append(item)
        else:
            seen += kind.replay(item, items)
    return seen
