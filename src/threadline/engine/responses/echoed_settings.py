"""The settings a response echoes from its create request, as its record keeps them."""

from __future__ import annotations

from typing import Any

from threadline.engine.responses.model_view import text_format
from threadline.engine.responses.server_tools.plan import echoed_tools
from threadline.protocol.responses import ResponseCreateParams

_ECHOED = (
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "parallel_tool_calls",
    "temperature",
    "top_p",
    "top_logprobs",
    "presence_penalty",
    "frequency_penalty",
    "truncation",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "store",
)


def echoed_settings(params: ResponseCreateParams) -> dict[str, Any]:
    """What a response record keeps of its create request: echoed in the Response object
    (and a few notes the engine reads back, such as whether its stream can be resumed)."""
    settings: dict[str, Any] = {name: getattr(params, name) for name in _ECHOED}
    settings["tools"] = echoed_tools(params.tools)
    if params.background:
        settings["background"] = True
        # Not echoed: says that the turn's events are kept, so its stream can be resumed.
        settings["stream"] = bool(params.stream)
    choice = params.tool_choice
    settings["tool_choice"] = (
        choice
        if choice is None or isinstance(choice, str)
        else choice.model_dump(exclude_none=True)
    )
    text = params.text.model_dump(exclude_none=True, by_alias=True) if params.text else {}
    settings["text"] = {
        "format": text_format(text),
        "verbosity": text.get("verbosity", "medium"),
    }
    if params.reasoning is not None:
        # Echoed as asked; a Chat Completions upstream writes no summaries (docs/api.md).
        summary = params.reasoning.summary or params.reasoning.generate_summary
        settings["reasoning"] = {"effort": params.reasoning.effort, "summary": summary}
    if params.service_tier is not None:
        settings["service_tier"] = (
            "default" if params.service_tier == "auto" else params.service_tier
        )
    return settings
