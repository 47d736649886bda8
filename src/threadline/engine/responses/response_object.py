"""The `Response` object, as OpenAI returns it, from a stored record and its output."""

from __future__ import annotations

from typing import Any

from threadline.errors import ThreadlineError, UpstreamError
from threadline.storage.base import Item, ResponseRecord

_ECHOED_DEFAULTS: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "max_tool_calls": None,
    "metadata": {},
    "parallel_tool_calls": True,
    # The effective sampling settings: what was asked for, else the defaults OpenAI documents
    # (both specs type these as numbers, and Open Responses requires them).
    "temperature": 1.0,
    "top_p": 1.0,
    "top_logprobs": 0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
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
# OpenAI leaves these out rather than sending null (its schema types `user` as a string only;
# Open Responses knows neither).
_OMITTED_WHEN_UNSET = ("user", "prompt_cache_retention")


# The codes a Response's `error` may carry: OpenAI's `ResponseErrorCode` enum. Threadline's own
# codes are finer (`upstream_timeout`, `server_shutting_down`, …); they stay in the HTTP error
# envelope of a non-streamed create, in the logs and in the metrics.
_RESPONSE_ERROR_CODES = frozenset(
    {
        "server_error",
        "rate_limit_exceeded",
        "invalid_prompt",
        "data_residency_mismatch",
        "bio_policy",
        "vector_store_timeout",
        "invalid_image",
        "invalid_image_format",
        "invalid_base64_image",
        "invalid_image_url",
        "image_too_large",
        "image_too_small",
        "image_parse_error",
        "image_content_policy_violation",
        "invalid_image_mode",
        "image_file_too_large",
        "unsupported_image_media_type",
        "empty_image_file",
        "failed_to_download_image",
        "image_file_not_found",
    }
)


def response_error(failure: ThreadlineError) -> dict[str, str]:
    """The `error` of a failed Response: a code of the spec's enum, and the message. An upstream
    that refused the request (its 4xx) is `invalid_prompt`; any other failure, `server_error`."""
    if failure.code in _RESPONSE_ERROR_CODES:
        code = failure.code
    elif isinstance(failure, UpstreamError) and failure.error_type == "invalid_request_error":
        code = "invalid_prompt"
    else:
        code = "server_error"
    return {"code": code, "message": failure.message}


def response_object(record: ResponseRecord, output: list[Item]) -> dict[str, Any]:
    settings = record.settings
    obj: dict[str, Any] = {
        "id": record.id,
        "object": "response",
        "created_at": int(record.created_at),
        "status": record.status,
        "background": bool(settings.get("background", False)),
        "completed_at": int(record.completed_at) if record.completed_at is not None else None,
        "error": record.error,
        "incomplete_details": record.incomplete_details,
        "model": record.model,
        "output": output,
        "previous_response_id": record.previous_response_id,
        # Open Responses requires `usage` and OpenAI's schema has no null one: until the model
        # reports it (and when it never did, as in a failed turn), it is all zeros.
        "usage": record.usage or usage_object(0, 0, 0, 0),
    }
    for key, default in _ECHOED_DEFAULTS.items():
        value = settings.get(key)
        obj[key] = default if value is None else value
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
