"""Server-side tool items, replayed to a Chat Completions model as the function calls they were.

A stored `mcp_call` or `web_search_call` becomes the assistant's function call and its output,
so that on later turns the model still knows what it looked up and what came back. The model
knew these tools as functions (`mcp__<label>__<tool>`, `web_search`); replay uses the same
names. Chat Completions wants tool call ids it can pair: they are derived from the item ids.

Approvals: a refused `mcp_approval_request` is replayed as the call the model asked for,
answered by the refusal (so that the model knows it was refused and why). An approved request
is replayed as nothing: the `mcp_call` that ran it follows and carries the call. A request that
was never answered is left out, since a call without an answer is not a valid context.
`mcp_list_tools` items are left out: the tools are in the request's tool list.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from threadline.protocol.tools import WEB_SEARCH_FUNCTION, mcp_function_name
from threadline.providers.base import Item

SERVER_TOOL_ITEM_TYPES = frozenset(
    {
        "mcp_list_tools",
        "mcp_call",
        "mcp_approval_request",
        "mcp_approval_response",
        "web_search_call",
    }
)


def with_server_tool_calls(items: list[Item]) -> Iterator[Item]:
    """`items` with every server-side tool item replaced by function call items."""
    refusals = {
        item.get("approval_request_id"): item
        for item in items
        if item.get("type") == "mcp_approval_response" and not item.get("approve")
    }
    for item in items:
        kind = item.get("type")
        if kind not in SERVER_TOOL_ITEM_TYPES:
            yield item
        elif kind == "mcp_call":
            yield from _call_and_output(
                item["id"],
                mcp_function_name(item["server_label"], item["name"]),
                item.get("arguments") or "{}",
                _mcp_output(item),
            )
        elif kind == "web_search_call":
            action = item.get("action") or {}
            yield from _call_and_output(
                item["id"],
                WEB_SEARCH_FUNCTION,
                json.dumps({"query": action.get("query", "")}),
                _search_output(item),
            )
        elif kind == "mcp_approval_request" and item["id"] in refusals:
            reason = refusals[item["id"]].get("reason")
            yield from _call_and_output(
                item["id"],
                mcp_function_name(item["server_label"], item["name"]),
                item.get("arguments") or "{}",
                "The user declined to run this tool call."
                + (f" Reason: {reason}" if reason else ""),
            )


def _call_and_output(item_id: str, name: str, arguments: str, output: str) -> list[Item]:
    call_id = chat_call_id(item_id)
    return [
        {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments},
        {"type": "function_call_output", "call_id": call_id, "output": output},
    ]


def chat_call_id(item_id: str) -> str:
    """A short, stable tool call id for an item (some servers cap ids at 40 characters)."""
    return "call_" + hashlib.sha256(item_id.encode()).hexdigest()[:24]


def _mcp_output(item: Item) -> str:
    error: Any = item.get("error")
    if not error:
        return str(item.get("output") or "")
    if isinstance(error, dict):
        if error.get("type") == "mcp_tool_execution_error":
            content = error.get("content")
            texts = (
                [str(block.get("text", "")) for block in content if isinstance(block, dict)]
                if isinstance(content, list)
                else [str(content)]
            )
            return "Error: " + "\n".join(texts)
        return f"Error: {error.get('message', '')}"
    return f"Error: {error}"


def _search_output(item: Item) -> str:
    if item.get("status") == "failed":
        return "The web search failed."
    sources = (item.get("action") or {}).get("sources") or []
    urls = [str(s.get("url")) for s in sources if isinstance(s, dict)]
    return "Results from: " + ", ".join(urls) if urls else "No web results."
