"""The small rules of server-side tools: function names, approval filters, citations."""

from __future__ import annotations

from typing import Any

import pytest

from threadline.engine.responses.citations import url_citations
from threadline.engine.responses.server_tools.mcp import McpServerPlan
from threadline.protocol.tools import McpTool, mcp_function_name
from threadline.tools.base import McpServer


def plan(**fields: Any) -> McpServerPlan:
    tool = McpTool.model_validate({"type": "mcp", "server_label": "dice", **fields})
    return McpServerPlan(tool, McpServer("dice", "http://x/mcp"))


def test_mcp_function_names_are_valid_chat_function_names() -> None:
    assert mcp_function_name("dice", "roll") == "mcp__dice__roll"
    assert mcp_function_name("dice", "files/read.v2") == "mcp__dice__files_read_v2"
    long_a = mcp_function_name("dice", "a" * 80)
    long_b = mcp_function_name("dice", "a" * 79 + "b")
    assert len(long_a) == 64 and long_a != long_b


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (None, {"roll": True, "peek": True}),  # OpenAI's default: always ask
        ("never", {"roll": False, "peek": False}),
        ({"never": {"tool_names": ["roll"]}}, {"roll": False, "peek": True}),
        ({"always": {"tool_names": ["roll"]}}, {"roll": True, "peek": False}),
        ({"never": {"read_only": True}}, {"roll": True, "peek": False}),
    ],
)
def test_require_approval_rules(rule: object, expected: dict[str, bool]) -> None:
    server = plan(require_approval=rule)
    annotations = {"roll": None, "peek": {"readOnlyHint": True}}
    assert {name: server.needs_approval(name, annotations[name]) for name in expected} == expected


def test_allowed_tools_by_names_or_filter() -> None:
    assert plan(allowed_tools=["roll"]).allows("roll", None)
    assert not plan(allowed_tools=["roll"]).allows("peek", None)
    read_only = plan(allowed_tools={"read_only": True})
    assert read_only.allows("peek", {"readOnlyHint": True}) and not read_only.allows("roll", None)


def test_citations_span_bare_urls_and_whole_markdown_links() -> None:
    sources = {"https://a.example/dice": "Dice", "https://a.example/dice/more": "More"}
    text = "See [the rules](https://a.example/dice) and https://a.example/dice/more."
    citations = url_citations(text, sources)
    assert [(c["url"], text[c["start_index"] : c["end_index"]]) for c in citations] == [
        ("https://a.example/dice", "[the rules](https://a.example/dice)"),
        ("https://a.example/dice/more", "https://a.example/dice/more"),
    ]
    assert url_citations("no links here", sources) == []
