"""`tool_choice`, decided in one place: what the client asked for (Responses or Chat Completions
shapes), and what each model call of a turn is told.

The policy for a turn that runs server-side tools: the first model call may be made to call a
server-side tool the client named (`{"type": "web_search"}`, `{"type": "mcp", …}`); later calls
relax `required` and a forced function to `auto`, or the model would be made to call tools for
ever; and the last call the limits allow offers no server-side tools, so it must not be forced
to call one.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from typing import Any

from threadline.protocol.chat import ChatCompletionCreateParams, NamedToolChoice
from threadline.protocol.tools import (
    FILE_SEARCH_FUNCTION,
    WEB_SEARCH_FUNCTION,
    WEB_SEARCH_TOOL_TYPES,
    AllowedToolsChoice,
    FunctionToolChoice,
    HostedToolChoice,
    mcp_function_name,
)
from threadline.providers.base import AUTO, REQUIRED, ToolChoice


@dataclass(frozen=True, slots=True)
class ClientChoice:
    """A Responses request's `tool_choice`, read once."""

    choice: ToolChoice | None = None
    """For the client's function tools (None: the upstream's default)."""
    server_first: ToolChoice | None = None
    """The first call's choice when the client named a server-side tool."""
    allowed_functions: frozenset[str] | None = None
    """`allowed_tools`: the client functions the model may call (None: all)."""
    allowed_server_tools: tuple[dict[str, Any], ...] | None = None
    """`allowed_tools` entries for server-side tools (None: all)."""

    def offers_function(self, name: str) -> bool:
        return self.allowed_functions is None or name in self.allowed_functions


def read_responses_choice(choice: object) -> ClientChoice:
    if isinstance(choice, str):
        return ClientChoice(ToolChoice(choice))  # type: ignore[arg-type]
    if isinstance(choice, FunctionToolChoice):
        return ClientChoice(ToolChoice.of(choice.name))
    if isinstance(choice, AllowedToolsChoice):
        functions = frozenset(
            str(t.get("name")) for t in choice.tools if t.get("type") == "function"
        )
        servers = tuple(t for t in choice.tools if t.get("type") != "function")
        return ClientChoice(ToolChoice(choice.mode), None, functions, servers)
    if isinstance(choice, HostedToolChoice):
        extra = choice.model_extra or {}
        if choice.type in WEB_SEARCH_TOOL_TYPES:
            return ClientChoice(server_first=ToolChoice.of(WEB_SEARCH_FUNCTION))
        if choice.type == "file_search":
            return ClientChoice(server_first=ToolChoice.of(FILE_SEARCH_FUNCTION))
        if choice.type == "mcp":
            label, name = extra.get("server_label"), extra.get("name")
            first = ToolChoice.of(mcp_function_name(str(label), str(name))) if name else REQUIRED
            return ClientChoice(server_first=first)
    return ClientChoice()


def read_chat_choice(params: ChatCompletionCreateParams) -> ToolChoice | None:
    choice = params.tool_choice
    if choice is None or not params.tools:
        return None
    if isinstance(choice, NamedToolChoice):
        return ToolChoice.of(choice.function.name)
    return ToolChoice(choice)


def choice_for_call(
    client: ClientChoice,
    *,
    first_call: bool,
    offers_server_tools: bool,
    server_functions: Container[str],
    any_tools: bool,
) -> ToolChoice | None:
    """The choice one model call of a turn is given."""
    choice = client.choice
    forces_server_tool = (
        choice is not None and choice.mode == "function" and choice.function in server_functions
    )
    if first_call and offers_server_tools and client.server_first is not None:
        choice = client.server_first
    elif (
        not first_call and choice is not None and (choice.mode == "required" or forces_server_tool)
    ):
        choice = AUTO
    if not any_tools or (not offers_server_tools and forces_server_tool):
        return None
    return choice
