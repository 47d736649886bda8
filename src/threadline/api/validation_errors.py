"""pydantic validation errors rendered the way OpenAI words them, naming the parameter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline.errors import InvalidRequest

# Tags that pydantic inserts in an error's location for tagged unions (input items, content
# parts, text formats); they name a union member, not a parameter.
_UNION_TAGS = {
    "message",
    "function_call",
    "function_call_output",
    "item_reference",
    "reasoning",
    "input_text",
    "input_image",
    "input_file",
    "output_text",
    "refusal",
    "json_schema",
    "text",
    "json_object",
    # server-side tool items, and the tool definitions (protocol/tools.py `Tool`)
    "mcp_list_tools",
    "mcp_call",
    "mcp_approval_request",
    "mcp_approval_response",
    "web_search_call",
    "function",
    "mcp",
    "web_search",
    "other",
}
_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a decimal",
    "float_parsing": "a decimal",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
}


def invalid_request_from(errors: Sequence[Any], *, root: str | None = None) -> InvalidRequest:
    """The most specific of pydantic's errors, as OpenAI's 400."""
    relevant = [e for e in errors if e.get("type") != "json_invalid"] or list(errors)
    if any(e.get("type") == "json_invalid" for e in errors):
        return InvalidRequest(
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)",
            code="invalid_json",
        )
    error = max(relevant, key=lambda e: len(e.get("loc", ())))
    param = _param(error.get("loc", ()), root)
    kind = error.get("type", "")
    value = error.get("input")
    if kind == "missing":
        return InvalidRequest(
            f"Missing required parameter: '{param}'.",
            param=param,
            code="missing_required_parameter",
        )
    if kind == "extra_forbidden":
        return InvalidRequest(
            f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter"
        )
    if kind in _EXPECTED:
        return InvalidRequest(
            f"Invalid type for '{param}': expected {_EXPECTED[kind]}, but got "
            f"{_json_type(value)} instead.",
            param=param,
            code="invalid_type",
        )
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        ctx = error.get("ctx", {})
        bound = next(iter(ctx.values()), None)
        above = kind.startswith("less")
        number = "decimal" if isinstance(bound, float) or isinstance(value, float) else "integer"
        return InvalidRequest(
            f"Invalid '{param}': {number} {'above maximum' if above else 'below minimum'} value. "
            f"Expected a value {'<=' if above else '>='} {bound}, but got {value} instead.",
            param=param,
            code=f"{number}_{'above_max' if above else 'below_min'}_value",
        )
    if kind in ("literal_error", "union_tag_invalid", "enum", "union_tag_not_found"):
        expected = error.get("ctx", {}).get("expected") or error.get("ctx", {}).get("expected_tags")
        shown = value.get("type") if isinstance(value, dict) and kind.startswith("union") else value
        return InvalidRequest(
            f"Invalid value: {shown!r}. Supported values are: {expected}.",
            param=param,
            code="invalid_value",
        )
    if kind in ("string_too_long", "too_long"):
        return InvalidRequest(
            f"Invalid '{param}': {error.get('msg')}.", param=param, code="string_above_max_length"
        )
    if kind in ("string_too_short", "too_short"):
        return InvalidRequest(
            f"Invalid '{param}': {error.get('msg')}.", param=param, code="string_below_min_length"
        )
    return InvalidRequest(
        f"Invalid '{param}': {error.get('msg')}.", param=param, code="invalid_value"
    )


def _param(loc: Sequence[Any], root: str | None) -> str:
    parts: list[str] = []
    previous: Any = None
    for element in loc:
        if element in ("body", "query", "path") and not parts and previous is None:
            previous = element
            continue
        if isinstance(element, int):
            parts.append(f"[{element}]")
        elif _is_union_label(element, previous):
            pass
        else:
            parts.append(f".{element}" if parts else str(element))
        previous = element
    text = "".join(parts)
    if root:
        return f"{root}{text}" if text.startswith("[") else f"{root}.{text}" if text else root
    return text


def _is_union_label(element: Any, previous: Any) -> bool:
    if not isinstance(element, str):
        return False
    if any(c in element for c in "[](),-") or element[:1].isupper():
        return True  # pydantic's names for union members: 'list[...]', 'FunctionTool', ...
    if element in {"str", "int", "float", "bool", "dict", "list", "none"}:
        return True
    return element in _UNION_TAGS and (isinstance(previous, int) or previous == "format")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
