"""Remote MCP through the official openai SDK: the tool loop, streaming, approvals, reuse of the
tool list along a chain or a conversation, and failures that the model is told about."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import free_port
from tests.tools.conftest import MCP_CALL_TIMEOUT, mcp_tool
from tests.tools.events import event_order, stream_events
from tests.tools.mcp_server import McpTestServer

ROLL = 'call mcp__dice__roll {"expr": "2d4+1"}'


def test_model_calls_an_mcp_tool_and_answers_with_its_result(
    tools_client: openai.OpenAI, mcp_server: McpTestServer, fake: FakeUpstream
) -> None:
    response = tools_client.responses.create(
        model=MODEL, input=ROLL, tools=[mcp_tool(mcp_server.url, require_approval="never")]
    )

    assert response.status == "completed"
    listed, call, answer = response.output
    assert listed.type == "mcp_list_tools" and listed.id.startswith("mcpl_")
    assert {tool.name for tool in listed.tools} == {"roll", "explode", "slow"}
    assert call.type == "mcp_call" and call.id.startswith("mcp_")
    assert (call.server_label, call.name, call.status) == ("dice", "roll", "completed")
    assert json.loads(call.arguments) == {"expr": "2d4+1"}
    assert call.output == "rolled 2d4+1: 9" and call.error is None
    assert answer.type == "message"
    assert response.output_text == "tool said: rolled 2d4+1: 9"
    # The model saw the MCP tools as functions, then the call and its result.
    last = fake.last_request()["body"]
    assert "mcp__dice__roll" in [t["function"]["name"] for t in last["tools"]]
    assert last["messages"][-2]["tool_calls"][0]["function"]["name"] == "mcp__dice__roll"
    assert last["messages"][-1]["role"] == "tool"
    assert last["messages"][-1]["content"] == "rolled 2d4+1: 9"


def test_usage_sums_every_model_call_of_the_response(
    tools_client: openai.OpenAI, mcp_server: McpTestServer, fake: FakeUpstream
) -> None:
    fake.clear()
    response = tools_client.responses.create(
        model=MODEL, input=ROLL, tools=[mcp_tool(mcp_server.url, require_approval="never")]
    )
    assert len(fake.requests) == 2
    assert response.usage is not None
    # The fake counts prompt words; the second call's prompt holds the first one's.
    assert response.usage.input_tokens > 2 * len(ROLL.split())
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


def test_streamed_mcp_turn_follows_openai_event_order(
    tools_http: httpx.Client, mcp_server: McpTestServer
) -> None:
    events = stream_events(
        tools_http,
        {
            "model": MODEL,
            "input": ROLL,
            "tools": [mcp_tool(mcp_server.url, require_approval="never")],
        },
    )
    assert event_order(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed",
        "response.output_item.done",
        "response.output_item.added",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = events[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["mcp_list_tools", "mcp_call", "message"]
    indexes = [e["output_index"] for e in events if e["type"] == "response.output_item.done"]
    assert indexes == [0, 1, 2]


def test_sdk_stream_helper_assembles_an_mcp_response(
    tools_client: openai.OpenAI, mcp_server: McpTestServer
) -> None:
    with tools_client.responses.stream(
        model=MODEL, input=ROLL, tools=[mcp_tool(mcp_server.url, require_approval="never")]
    ) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_response()
    assert "response.mcp_call.completed" in kinds
    assert [item.type for item in final.output] == ["mcp_list_tools", "mcp_call", "message"]
    assert final.output_text == "tool said: rolled 2d4+1: 9"


def test_chain_second_turn_reuses_the_tool_list(
    tools_client: openai.OpenAI, mcp_server: McpTestServer, fake: FakeUpstream
) -> None:
    tools = [mcp_tool(mcp_server.url, require_approval="never")]
    first = tools_client.responses.create(model=MODEL, input=ROLL, tools=tools)
    requests = mcp_server.rpc_count()

    second = tools_client.responses.create(
        model=MODEL, previous_response_id=first.id, input="and now?", tools=tools
    )

    assert mcp_server.rpc_count() == requests  # the server was not asked again
    assert [item.type for item in second.output] == ["message"]
    sent = fake.last_request()["body"]
    assert "mcp__dice__roll" in [t["function"]["name"] for t in sent["tools"]]
    # The first turn's call is replayed to the model as a call and its result.
    call = next(m for m in sent["messages"] if m.get("tool_calls"))
    assert call["tool_calls"][0]["function"]["name"] == "mcp__dice__roll"
    result = next(m for m in sent["messages"] if m["role"] == "tool")
    assert result == {
        "role": "tool",
        "tool_call_id": call["tool_calls"][0]["id"],
        "content": "rolled 2d4+1: 9",
    }

    third = tools_client.responses.create(
        model=MODEL,
        previous_response_id=second.id,
        input='call mcp__dice__roll {"expr": "1d6"}',
        tools=tools,
    )
    assert [item.type for item in third.output] == ["mcp_call", "message"]
    assert third.output_text == "tool said: rolled 1d6: 6"


def test_conversation_lists_the_tools_once(
    tools_client: openai.OpenAI, mcp_server: McpTestServer
) -> None:
    conversation = tools_client.conversations.create()
    tools = [mcp_tool(mcp_server.url, require_approval="never")]
    for text in (ROLL, "thanks"):
        tools_client.responses.create(
            model=MODEL, input=text, tools=tools, conversation=conversation.id
        )
    items = tools_client.conversations.items.list(conversation.id, order="asc").data
    kinds = [item.type for item in items]
    assert kinds.count("mcp_list_tools") == 1
    assert kinds == ["message", "mcp_list_tools", "mcp_call", "message", "message", "message"]


def test_approval_round_trip_runs_the_call_only_once_approved(
    tools_client: openai.OpenAI, mcp_server: McpTestServer
) -> None:
    tools = [mcp_tool(mcp_server.url)]  # require_approval defaults to "always", as on OpenAI
    calls = mcp_server.count("tools/call")
    asked = tools_client.responses.create(model=MODEL, input=ROLL, tools=tools)

    assert asked.status == "completed"
    assert [item.type for item in asked.output] == ["mcp_list_tools", "mcp_approval_request"]
    request = asked.output[1]
    assert (request.server_label, request.name) == ("dice", "roll")
    assert json.loads(request.arguments) == {"expr": "2d4+1"}
    assert mcp_server.count("tools/call") == calls

    approved = tools_client.responses.create(
        model=MODEL,
        previous_response_id=asked.id,
        input=[
            {"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}
        ],
        tools=tools,
    )
    assert [item.type for item in approved.output] == ["mcp_call", "message"]
    call = approved.output[0]
    assert call.approval_request_id == request.id
    assert call.output == "rolled 2d4+1: 9"
    assert approved.output_text == "tool said: rolled 2d4+1: 9"
    assert mcp_server.count("tools/call") == calls + 1


def test_refused_approval_tells_the_model_and_runs_nothing(
    tools_client: openai.OpenAI, mcp_server: McpTestServer, fake: FakeUpstream
) -> None:
    tools = [mcp_tool(mcp_server.url, require_approval="always")]
    asked = tools_client.responses.create(model=MODEL, input=ROLL, tools=tools)
    request = asked.output[-1]
    calls = mcp_server.count("tools/call")

    refused = tools_client.responses.create(
        model=MODEL,
        previous_response_id=asked.id,
        input=[
            {
                "type": "mcp_approval_response",
                "approval_request_id": request.id,
                "approve": False,
                "reason": "no gambling",
            }
        ],
        tools=tools,
    )
    assert [item.type for item in refused.output] == ["message"]
    assert "declined" in refused.output_text and "no gambling" in refused.output_text
    assert mcp_server.count("tools/call") == calls
    assert fake.last_request()["body"]["messages"][-1]["role"] == "tool"


def test_an_approval_for_an_unknown_request_is_a_400(
    tools_client: openai.OpenAI, mcp_server: McpTestServer
) -> None:
    first = tools_client.responses.create(model=MODEL, input="hello")
    with pytest.raises(openai.BadRequestError) as raised:
        tools_client.responses.create(
            model=MODEL,
            previous_response_id=first.id,
            input=[
                {"type": "mcp_approval_response", "approval_request_id": "mcpr_x", "approve": True}
            ],
            tools=[mcp_tool(mcp_server.url)],
        )
    assert raised.value.body["param"] == "input[0].approval_request_id"  # type: ignore[index]


def test_require_approval_filter_names_the_tools_that_run_freely(
    tools_client: openai.OpenAI, mcp_server: McpTestServer
) -> None:
    tools = [mcp_tool(mcp_server.url, require_approval={"never": {"tool_names": ["roll"]}})]
    free = tools_client.responses.create(model=MODEL, input=ROLL, tools=tools)
    guarded = tools_client.responses.create(
        model=MODEL, input="call mcp__dice__explode", tools=tools
    )
    assert free.output[1].type == "mcp_call"
    assert guarded.output[1].type == "mcp_approval_request"


def test_failing_tool_is_an_mcp_call_error_that_the_model_is_told(
    tools_client: openai.OpenAI, mcp_server: McpTestServer
) -> None:
    response = tools_client.responses.create(
        model=MODEL,
        input="call mcp__dice__explode",
        tools=[mcp_tool(mcp_server.url, require_approval="never")],
    )
    assert response.status == "completed"
    call = response.output[1]
    assert call.type == "mcp_call" and call.status == "failed"
    assert call.output is None and call.error is not None
    assert call.error.type == "mcp_tool_execution_error"  # type: ignore[union-attr]
    assert response.output_text.startswith("tool said: Error:")


def test_slow_tool_times_out_into_an_mcp_call_error(
    tools_client: openai.OpenAI, mcp_server: McpTestServer
) -> None:
    response = tools_client.responses.create(
        model=MODEL,
        input=f'call mcp__dice__slow {{"seconds": {MCP_CALL_TIMEOUT * 5}}}',
        tools=[mcp_tool(mcp_server.url, require_approval="never")],
    )
    assert response.status == "completed"
    call = response.output[1]
    assert call.status == "failed"
    assert call.error is not None and call.error.type == "http_error"  # type: ignore[union-attr]
    assert call.error.code == 504  # type: ignore[union-attr]
    assert "timed out" in response.output_text


def test_unreachable_server_is_a_list_error_and_the_model_still_answers(
    tools_client: openai.OpenAI,
) -> None:
    response = tools_client.responses.create(
        model=MODEL,
        input="are you there",
        tools=[mcp_tool(f"http://127.0.0.1:{free_port()}/mcp", require_approval="never")],
    )
    assert response.status == "completed"
    listed = response.output[0]
    assert listed.type == "mcp_list_tools" and listed.tools == []
    assert listed.error and "could not be reached" in listed.error
    assert response.output_text == "echo: are you there"


def test_allowed_tools_limit_what_the_model_is_offered(
    tools_client: openai.OpenAI, mcp_server: McpTestServer, fake: FakeUpstream
) -> None:
    response = tools_client.responses.create(
        model=MODEL,
        input="hi",
        tools=[mcp_tool(mcp_server.url, allowed_tools=["roll"], require_approval="never")],
    )
    assert [tool.name for tool in response.output[0].tools] == ["roll"]  # type: ignore[union-attr]
    offered = [t["function"]["name"] for t in fake.last_request()["body"]["tools"]]
    assert offered == ["mcp__dice__roll"]


def test_headers_and_authorization_reach_the_server_and_are_never_stored(
    tools_client: openai.OpenAI, mcp_server: McpTestServer
) -> None:
    response = tools_client.responses.create(
        model=MODEL,
        input="hi",
        tools=[
            mcp_tool(
                mcp_server.url,
                authorization="secret-token",
                headers={"X-Dice-Tenant": "ada"},
                require_approval="never",
            )
        ],
    )
    seen = [r["headers"] for r in mcp_server.requests if r["method"] == "tools/list"][-1]
    assert seen["authorization"] == "Bearer secret-token"
    assert seen["x-dice-tenant"] == "ada"
    stored = tools_client.responses.retrieve(response.id).model_dump()
    assert "secret-token" not in json.dumps(stored) and "ada" not in json.dumps(stored["tools"])
    assert stored["tools"][0]["server_url"] == mcp_server.url


def test_older_servers_are_reached_over_sse(
    tools_client: openai.OpenAI, mcp_server: McpTestServer
) -> None:
    response = tools_client.responses.create(
        model=MODEL, input=ROLL, tools=[mcp_tool(mcp_server.sse_url, require_approval="never")]
    )
    assert response.output[1].output == "rolled 2d4+1: 9"  # type: ignore[union-attr]


def test_max_tool_calls_caps_server_calls_per_response(
    tools_client: openai.OpenAI, mcp_server: McpTestServer
) -> None:
    response = tools_client.responses.create(
        model=MODEL,
        input='call2 mcp__dice__roll {"expr": "1d4"} ; mcp__dice__roll {"expr": "1d8"}',
        tools=[mcp_tool(mcp_server.url, require_approval="never")],
        max_tool_calls=1,
    )
    calls = [item for item in response.output if item.type == "mcp_call"]
    assert len(calls) == 1
    assert response.output_text == "tool said: rolled 1d4: 4"


@pytest.mark.parametrize(
    ("tool", "param"),
    [
        ({"type": "mcp", "server_label": "dice"}, "tools[0].server_url"),
        (
            {"type": "mcp", "server_label": "g", "connector_id": "connector_gmail"},
            "tools[0].connector_id",
        ),
        ({"type": "mcp", "server_label": "dice", "server_url": "ftp://x/"}, "tools[0].server_url"),
        ({"type": "code_interpreter", "container": {"type": "auto"}}, "tools[0].type"),
        ({"type": "image_generation"}, "tools[0].type"),
        (
            {
                "type": "computer_use_preview",
                "display_width": 1,
                "display_height": 1,
                "environment": "linux",
            },
            "tools[0].type",
        ),
    ],
)
def test_tools_threadline_cannot_run_are_a_400_naming_them(
    tools_http: httpx.Client, tool: dict[str, object], param: str
) -> None:
    response = tools_http.post(
        "/v1/responses", json={"model": MODEL, "input": "x", "tools": [tool]}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_a_server_url_with_credentials_is_refused_and_never_echoed(
    tools_http: httpx.Client, mcp_server: McpTestServer
) -> None:
    with_credentials = mcp_server.url.replace("://", "://alice:hunter2@", 1)
    tool = {"type": "mcp", "server_label": "dice", "server_url": with_credentials}
    response = tools_http.post(
        "/v1/responses", json={"model": MODEL, "input": "x", "tools": [tool]}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "tools[0].server_url"
    assert "'authorization' or 'headers'" in error["message"]
    assert "hunter2" not in response.text


@pytest.mark.parametrize(
    ("text", "extra"),
    [
        (ROLL, {}),  # approval request (default require_approval)
        ("call mcp__dice__explode", {"require_approval": "never"}),
        ('call mcp__dice__roll "not an object"', {"require_approval": "never"}),
    ],
)
def test_every_mcp_item_and_event_matches_the_spec_schema(
    tools_http: httpx.Client, mcp_server: McpTestServer, text: str, extra: dict[str, object]
) -> None:
    events = stream_events(
        tools_http, {"model": MODEL, "input": text, "tools": [mcp_tool(mcp_server.url, **extra)]}
    )
    assert events[-1]["type"] == "response.completed"


def test_arguments_that_are_not_an_object_are_an_error_the_model_is_told(
    tools_client: openai.OpenAI, mcp_server: McpTestServer
) -> None:
    response = tools_client.responses.create(
        model=MODEL,
        input='call mcp__dice__roll "2d4"',
        tools=[mcp_tool(mcp_server.url, require_approval="never")],
    )
    call = response.output[1]
    assert call.error is not None and call.error.type == "mcp_protocol_error"  # type: ignore[union-attr]
    assert response.output_text == "tool said: Error: The tool arguments are not a JSON object."
