"""Refuse, by name, what OpenAI accepts but Threadline does not run yet (never a silent drop)."""

from __future__ import annotations

from collections.abc import Sequence

from threadline.errors import InvalidRequest, UnsupportedParameter
from threadline.protocol.responses import Includable, ResponseCreateParams
from threadline.protocol.tools import (
    WEB_SEARCH_TOOL_TYPES,
    FunctionTool,
    FunctionToolChoice,
    HostedToolChoice,
    McpTool,
)

_NOT_YET = (
    "prompt",
    "moderation",
    "background_options",
    "access_programs",
    "image",
)


def refuse_unsupported(params: ResponseCreateParams) -> None:
    for name in _NOT_YET:
        if getattr(params, name) is not None:
            raise UnsupportedParameter(f"The parameter '{name}' is not supported yet.", param=name)
    for index, tool in enumerate(params.tools or ()):
        if tool.type not in _RUN_TOOL_TYPES:
            raise UnsupportedParameter(
                f"Tool type '{tool.type}' is not supported yet; supported tool types: "
                "'function', 'mcp', 'web_search', 'file_search'.",
                param=f"tools[{index}].type",
            )
    choice = params.tool_choice
    if isinstance(choice, HostedToolChoice):
        _check_hosted_choice(params, choice)
    if isinstance(choice, FunctionToolChoice) and choice.name not in {
        t.name for t in params.tools or () if isinstance(t, FunctionTool)
    }:
        raise InvalidRequest(
            f"Tool choice '{choice.name}' not found in 'tools' parameter.", param="tool_choice"
        )
    if params.top_logprobs:
        raise UnsupportedParameter("'top_logprobs' is not supported yet.", param="top_logprobs")
    check_includes(params.include)
    if params.conversation is not None and params.previous_response_id is not None:
        raise InvalidRequest(
            "'previous_response_id' cannot be used in conjunction with 'conversation'.",
            param="previous_response_id",
        )
    if params.conversation is not None and params.store is False:
        raise UnsupportedParameter(
            "'store': false cannot be combined with 'conversation': a conversation keeps every "
            "turn it runs. Omit 'conversation' (and send the history in 'input') to keep nothing.",
            param="store",
        )
    if params.metadata is not None:
        check_metadata(params.metadata)


_RUN_TOOL_TYPES = ("function", "mcp", "file_search", *WEB_SEARCH_TOOL_TYPES)


def _check_hosted_choice(params: ResponseCreateParams, choice: HostedToolChoice) -> None:
    tools = params.tools or ()
    if choice.type == "mcp":
        label = (choice.model_extra or {}).get("server_label")
        if not any(isinstance(t, McpTool) and t.server_label == label for t in tools):
            raise InvalidRequest(
                f"tool_choice names MCP server '{label}', which is not in 'tools'.",
                param="tool_choice.server_label",
            )
        return
    if choice.type in WEB_SEARCH_TOOL_TYPES:
        if not any(t.type in WEB_SEARCH_TOOL_TYPES for t in tools):
            raise InvalidRequest(
                "tool_choice names web search, which is not in 'tools'.", param="tool_choice"
            )
        return
    if choice.type == "file_search":
        if not any(t.type == "file_search" for t in tools):
            raise InvalidRequest(
                "tool_choice names file search, which is not in 'tools'.", param="tool_choice"
            )
        return
    raise UnsupportedParameter(
        f"tool_choice type '{choice.type}' is not supported yet.", param="tool_choice.type"
    )


def check_metadata(metadata: dict[str, str], param: str = "metadata") -> None:
    if len(metadata) > 16:
        raise InvalidRequest(
            f"Invalid '{param}': too many properties. Expected an object with at most 16 "
            f"properties, but got an object with {len(metadata)} properties instead.",
            param=param,
            code="object_above_max_properties",
        )
    for key, value in metadata.items():
        if len(key) > 64:
            raise InvalidRequest(
                f"Invalid '{param}': key '{key[:20]}…' is longer than 64 characters.",
                param=f"{param}.{key[:64]}",
                code="string_above_max_length",
            )
        if len(value) > 512:
            raise InvalidRequest(
                f"Invalid '{param}.{key}': string too long. Expected a string with maximum "
                f"length 512, but got a string with length {len(value)} instead.",
                param=f"{param}.{key}",
                code="string_above_max_length",
            )


def refuse_empty_turn(params: ResponseCreateParams, history: Sequence[object]) -> None:
    """A turn with no history, no input (none, "" or []) and no instructions would ask the
    model about nothing: OpenAI refuses it with a 400 naming `input`, and so do we."""
    if params.input or history or params.instructions:
        return
    nothing_else = (
        "with no 'previous_response_id', 'conversation' history or 'instructions' there is "
        "nothing to send to the model."
    )
    if params.input is None:
        raise InvalidRequest(
            f"Missing required parameter: 'input': {nothing_else}",
            param="input",
            code="missing_required_parameter",
        )
    if isinstance(params.input, str):
        raise InvalidRequest(
            "Invalid 'input': empty string. Expected a string with minimum length 1: "
            + nothing_else,
            param="input",
            code="empty_string",
        )
    raise InvalidRequest(
        f"Invalid 'input': empty array. Expected an array with minimum length 1: {nothing_else}",
        param="input",
        code="empty_array",
    )


def check_includes(include: Sequence[Includable] | None) -> None:
    """Items are stored whole (image urls, search sources and results, reasoning as the
    provider gave it), so every other include is already met; log probabilities are never
    kept."""
    if include and "message.output_text.logprobs" in include:
        raise UnsupportedParameter(
            "'message.output_text.logprobs' is not supported yet.", param="include"
        )
