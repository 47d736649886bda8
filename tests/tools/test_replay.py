"""Server-side tool items replay to the model as the function calls they were (the engine's
`replayed`, here through the Chat Completions translation)."""

from __future__ import annotations

from typing import Any

from threadline.engine.responses.server_tools.base import call_and_output
from threadline.engine.responses.server_tools.plan import replayed
from threadline.providers.chat_messages import chat_messages


def to_chat_messages(instructions: str | None, items: list[dict[str, Any]]) -> list[Any]:
    return chat_messages(instructions, replayed(items)).as_list()


def chat_call_id(item_id: str) -> str:
    return str(call_and_output(item_id, "f", "{}", "")[0]["call_id"])


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def approval_request(request_id: str) -> dict[str, Any]:
    return {
        "id": request_id,
        "type": "mcp_approval_request",
        "server_label": "dice",
        "name": "roll",
        "arguments": '{"expr": "1d6"}',
    }


def test_mcp_call_becomes_a_call_and_its_result() -> None:
    call = {
        "id": "mcp_1",
        "type": "mcp_call",
        "server_label": "dice",
        "name": "roll",
        "arguments": '{"expr": "1d6"}',
        "output": "6",
        "status": "completed",
    }
    listed = {"id": "mcpl_1", "type": "mcp_list_tools", "server_label": "dice", "tools": []}
    messages = to_chat_messages(None, [user("roll"), listed, call])
    call_id = chat_call_id("mcp_1")
    assert messages[1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "mcp__dice__roll", "arguments": '{"expr": "1d6"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "6"},
    ]
    assert len(call_id) <= 40


def test_failed_mcp_call_replays_its_error() -> None:
    call = {
        "id": "mcp_2",
        "type": "mcp_call",
        "server_label": "dice",
        "name": "explode",
        "arguments": "{}",
        "error": {
            "type": "mcp_tool_execution_error",
            "content": [{"type": "text", "text": "boom"}],
        },
        "status": "failed",
    }
    assert to_chat_messages(None, [call])[-1]["content"] == "Error: boom"


def test_refused_approval_replays_as_a_call_answered_by_the_refusal() -> None:
    refusal = {
        "id": "mcpa_1",
        "type": "mcp_approval_response",
        "approval_request_id": "mcpr_1",
        "approve": False,
        "reason": "not now",
    }
    messages = to_chat_messages(None, [user("roll"), approval_request("mcpr_1"), refusal])
    assert messages[1]["tool_calls"][0]["function"]["name"] == "mcp__dice__roll"
    assert messages[2]["role"] == "tool"
    assert messages[2]["content"] == "The user declined to run this tool call. Reason: not now"


def test_unanswered_and_approved_requests_are_left_to_the_call_that_ran() -> None:
    approval = {
        "id": "mcpa_2",
        "type": "mcp_approval_response",
        "approval_request_id": "mcpr_2",
        "approve": True,
    }
    messages = to_chat_messages(
        None,
        [user("a"), approval_request("mcpr_1"), user("b"), approval_request("mcpr_2"), approval],
    )
    assert messages == [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]


def test_web_search_call_stored_without_results_replays_its_sources() -> None:
    search = {
        "id": "ws_1",
        "type": "web_search_call",
        "status": "completed",
        "action": {
            "type": "search",
            "query": "dice",
            "sources": [{"type": "url", "url": "https://a.example/"}],
        },
    }
    messages = to_chat_messages(None, [search])
    assert messages[0]["tool_calls"][0]["function"] == {
        "name": "web_search",
        "arguments": '{"query": "dice"}',
    }
    assert messages[1]["content"] == "Results from: https://a.example/"


def test_web_search_call_replays_the_results_the_model_read() -> None:
    search = {
        "id": "ws_2",
        "type": "web_search_call",
        "status": "completed",
        "action": {"type": "search", "query": "dice"},
        "results": [{"url": "https://a.example/", "title": "Dice", "snippet": "Six faces."}],
    }
    told = to_chat_messages(None, [search])[1]["content"]
    assert told == (
        'Web results for "dice":\n\n[1] Dice\nURL: https://a.example/\nSix faces.'
        "\n\nCite the URLs of the results you use."
    )
