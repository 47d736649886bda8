"""The `Response` object, as OpenAI returns it, from a stored record and its output."""

from __future__ import annotations

from typing import Any

from threadline.storage.base import Item, ResponseRecord

_ECHOED_DEFAULTS: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "max_tool_calls": None,
    "metadata": {},
    "parallel_tool_calls": True,
    "temperature": None,
    "top_p": None,
    "top_logprobs": None,
    "tool_choice": "auto",
    "tools": [],
    "truncation": "disabled",
    "user": None,
    "safety_identifier": None,
    "prompt_cache_key": None,
    "prompt_cache_retention": None,
    "service_tier": "default",
    "reasoning": {"effort": None, "summary": None},
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "store": True,
}
# OpenAI leaves these out rather than sending null (its schema types them as strings).
_OMITTED_WHEN_UNSET = ("user", "safety_identifier", "prompt_cache_key", "prompt_cache_retention")


def response_object(record: ResponseRecord, output: list[Item]) -> dict[str, Any]:
    settings = record.settings
    obj: dict[str, Any] = {
        "id": record.id,
        "object": "response",
        "created_at": int(record.created_at),
        "status": record.status,
        "background": False,
        "completed_at": int(record.completed_at) if record.completed_at is not None else None,
        "error": record.error,
        "incomplete_details": record.incomplete_details,
        "model": record.model,
        "output": output,
        "previous_response_id": record.previous_response_id,
        "usage": record.usage,
    }
    for key, default in _ECHOED_DEFAULTS.items():
        value = settings.get(key)
        obj[key] = default if value is None else value
    if record.usage is None:
        del obj["usage"]  # until the model reports it; the schema has no null usage
    for key in _OMITTED_WHEN_UNSET:
        if obj[key] is None:
            del obj[key]
    if record.conversation_id is not None:
        obj["conversation"] = {"id": record.conversation_id}
    return obj


def usage_object(
    input_tokens: int, output_tokens: int, cached: int, reasoning: int
) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }
