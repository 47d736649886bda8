"""Check that a turn's whole context is something a model can be given."""

from __future__ import annotations

from threadline.errors import InvalidRequest
from threadline.storage.base import Item


def check_tool_calls_answered(context: list[Item]) -> None:
    """Every function call needs its output before the model runs again, and every output
    needs its call: OpenAI refuses such a context with a 400, and so do Chat Completions
    servers, less clearly."""
    calls: set[str] = set()
    answered: set[str] = set()
    for item in context:
        kind = item.get("type")
        if kind == "function_call":
            calls.add(item["call_id"])
        elif kind == "function_call_output":
            call_id = item["call_id"]
            if call_id not in calls:
                raise InvalidRequest(
                    f"No tool call found for function call output with call_id {call_id}.",
                    param="input",
                )
            answered.add(call_id)
    missing = sorted(calls - answered)
    if missing:
        raise InvalidRequest(f"No tool output found for function call {missing[0]}.", param="input")
