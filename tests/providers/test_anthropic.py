"""The Anthropic Messages adapter against the fake's `/v1/messages`: what Anthropic is sent
(system, alternating messages, tool_use/tool_result, images and PDFs, thinking sent back with
its signature, cache breakpoints, tools and tool choice, structured output) and what comes
back (text, tool calls, reasoning sealed with its signature, usage with cache reads, stop
reasons, Anthropic's errors)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest

from tests.fake_upstream import FakeUpstream
from threadline.errors import ModelNotFound, UpstreamError
from threadline.providers.anthropic import AnthropicProvider
from threadline.providers.anthropic_messages import THINKING_PREFIX
from threadline.providers.base import (
    AUTO,
    NONE,
    REQUIRED,
    Finish,
    ProviderEvent,
    ProviderRequest,
    ReasoningDelta,
    ReasoningSealed,
    TextDelta,
    ToolCallDelta,
    ToolChoice,
    UsageReport,
)
from threadline.providers.retry import RetryPolicy

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture
async def claude(fake: FakeUpstream) -> AsyncIterator[AnthropicProvider]:
    provider = AnthropicProvider(
        "claude", fake.base_url, api_key="sk-ant-test", retry=RetryPolicy(max_retries=0)
    )
    yield provider
    await provider.aclose()


def _user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": text}


async def _run(provider: AnthropicProvider, request: ProviderRequest) -> list[ProviderEvent]:
    return [event async for event in provider.stream(request)]


def _text(events: list[ProviderEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.parametrize("incremental", [True, False])
async def test_a_turn_streams_text_usage_and_its_end(
    claude: AnthropicProvider, fake: FakeUpstream, incremental: bool
) -> None:
    events = await _run(
        claude,
        ProviderRequest(
            model="claude-test",
            items=[_user("hello there")],
            instructions="Be brief.",
            incremental=incremental,
        ),
    )
    assert _text(events) == "echo: hello there"
    usage = next(e for e in events if isinstance(e, UsageReport))
    # The fake reads the cacheable system prompt ("Be brief.") from its cache.
    assert usage.cached_tokens == 2 and usage.input_tokens == 4
    assert events[-1] == Finish("stop")
    sent = fake.last_request()
    assert sent["headers"]["x-api-key"] == "sk-ant-test"
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    body = sent["body"]
    assert body["system"] == [
        {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}
    ]
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hello there", "cache_control": {"type": "ephemeral"}}
            ],
        }
    ]
    assert body["max_tokens"] == 8192
    assert body.get("stream") is (True if incremental else None)


async def test_history_alternates_roles_with_tool_use_and_tool_results(
    claude: AnthropicProvider, fake: FakeUpstream
) -> None:
    items = [
        {"type": "message", "role": "developer", "content": "Use metric units."},
        _user("weather in Paris and Rome?"),
        {"type": "function_call", "call_id": "call_1", "name": "get_weather",
         "arguments": '{"city": "Paris"}'},
        {"type": "function_call", "call_id": "call.2", "name": "get_weather",
         "arguments": '{"city": "Rome"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        {"type": "function_call_output", "call_id": "call.2", "output": "24C"},
    ]  # fmt: skip
    events = await _run(claude, ProviderRequest(model="claude-test", items=items, tools=[WEATHER]))
    assert _text(events) == "tool said: 18C | 24C"
    body = fake.last_request()["body"]
    assert body["system"][0]["text"] == "Use metric units."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    uses = body["messages"][1]["content"]
    assert [(b["type"], b["id"], b["input"]) for b in uses] == [
        ("tool_use", "call_1", {"city": "Paris"}),
        ("tool_use", "call_2", {"city": "Rome"}),  # ids made to fit Anthropic's alphabet
    ]
    results = body["messages"][2]["content"]
    assert [(b["type"], b["tool_use_id"], b["content"]) for b in results] == [
        ("tool_result", "call_1", "18C"),
        ("tool_result", "call_2", "24C"),
    ]
    assert body["tools"] == [
        {
            "name": "get_weather",
            "input_schema": WEATHER["parameters"],
            "description": "The weather in a city.",
        }
    ]


@pytest.mark.parametrize("incremental", [True, False])
async def test_a_tool_call_comes_back_as_a_function_call(
    claude: AnthropicProvider, incremental: bool
) -> None:
    events = await _run(
        claude,
        ProviderRequest(
            model="claude-test",
            items=[_user('call get_weather {"city": "Oslo"}')],
            tools=[WEATHER],
            incremental=incremental,
        ),
    )
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert calls[0].name == "get_weather" and calls[0].call_id.startswith("toolu_")
    assert "".join(c.arguments for c in calls).replace(" ", "") == '{"city":"Oslo"}'
    assert events[-1] == Finish("tool_calls")


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (AUTO, None, {"type": "auto"}),
        (NONE, None, {"type": "none"}),
        (REQUIRED, None, {"type": "any"}),
        (
            ToolChoice.of("get_weather"),
            None,
            {"type": "tool", "name": "get_weather"},
        ),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        (None, None, None),
    ],
)
def test_tool_choice_maps_to_anthropics(
    claude: AnthropicProvider, choice: Any, parallel: bool | None, expected: Any
) -> None:
    body = claude.messages_body(
        ProviderRequest(
            model="m",
            items=[_user("hi")],
            tools=[WEATHER],
            tool_choice=choice,
            parallel_tool_calls=parallel,
        )
    )
    assert body.get("tool_choice") == expected


@pytest.mark.parametrize("incremental", [True, False])
async def test_thinking_comes_back_sealed_and_is_sent_back_with_its_signature(
    claude: AnthropicProvider, fake: FakeUpstream, incremental: bool
) -> None:
    events = await _run(
        claude,
        ProviderRequest(
            model="claude-test",
            items=[_user("reason step by step")],
            reasoning_effort="medium",
            temperature=0.2,
            incremental=incremental,
        ),
    )
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert reasoning == "step by step"
    sealed = next(e for e in events if isinstance(e, ReasoningSealed))
    assert sealed.encrypted_content == THINKING_PREFIX + "sig:step-by-step"
    body = fake.last_request()["body"]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert "temperature" not in body  # Anthropic refuses it with thinking on

    later = [
        _user("reason step by step"),
        {
            "type": "reasoning",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": reasoning}],
            "encrypted_content": sealed.encrypted_content,
        },
        {"type": "message", "role": "assistant", "content": "done"},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "not Anthropic's"}]},
        _user("and then?"),
    ]
    await _run(claude, ProviderRequest(model="claude-test", items=later))
    assistant = fake.last_request()["body"]["messages"][1]
    assert assistant["content"] == [
        {"type": "thinking", "thinking": "step by step", "signature": "sig:step-by-step"},
        {"type": "text", "text": "done"},
    ]


def test_images_and_files_become_anthropic_blocks(claude: AnthropicProvider) -> None:
    pdf = "data:application/pdf;base64," + base64.b64encode(b"%PDF-1.4 x").decode()
    text = "data:text/plain;base64," + base64.b64encode(b"plain words").decode()
    png = "data:image/png;base64,iVBORw0KGgo="
    body = claude.messages_body(
        ProviderRequest(
            model="m",
            items=[
                {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "look"},
                        {"type": "input_image", "image_url": png},
                        {"type": "input_image", "image_url": "https://example.com/a.jpg"},
                        {"type": "input_file", "file_data": pdf, "filename": "a.pdf"},
                        {"type": "input_file", "file_data": text, "filename": "b.txt"},
                    ],
                }
            ],
        )
    )
    blocks = orjson.loads(orjson.dumps(body))["messages"][0]["content"]  # as sent
    assert blocks[1]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": "iVBORw0KGgo=",
    }
    assert blocks[2]["source"] == {"type": "url", "url": "https://example.com/a.jpg"}
    assert (
        blocks[3]["type"] == "document" and blocks[3]["source"]["media_type"] == "application/pdf"
    )
    assert blocks[4]["source"] == {
        "type": "text",
        "media_type": "text/plain",
        "data": "plain words",
    }


def test_structured_output_uses_output_config(claude: AnthropicProvider) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    body = claude.messages_body(
        ProviderRequest(
            model="m",
            items=[_user("hi")],
            text_format={"type": "json_schema", "name": "n", "schema": schema},
        )
    )
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


async def test_max_tokens_ends_the_turn_as_length(claude: AnthropicProvider) -> None:
    events = await _run(
        claude, ProviderRequest(model="m", items=[_user("long 20")], max_output_tokens=5)
    )
    assert _text(events) == "w1 w2 w3 w4 w5"
    assert events[-1] == Finish("length")


async def test_anthropic_errors_keep_their_status_and_type(claude: AnthropicProvider) -> None:
    with pytest.raises(UpstreamError) as refused:
        await _run(claude, ProviderRequest(model="m", items=[_user("fail 400 quoted prompt")]))
    assert refused.value.status_code == 400
    assert refused.value.code == "invalid_request_error"
    with pytest.raises(UpstreamError) as limited:
        await _run(claude, ProviderRequest(model="m", items=[_user("fail 429")]))
    assert limited.value.status_code == 429
    with pytest.raises(ModelNotFound):
        await _run(claude, ProviderRequest(model="missing-model", items=[_user("hi")]))


async def test_an_overloaded_anthropic_is_retried(fake: FakeUpstream) -> None:
    provider = AnthropicProvider(
        "claude", fake.base_url, retry=RetryPolicy(max_retries=2, backoff=0.01)
    )
    try:
        events = await _run(provider, ProviderRequest(model="m", items=[_user("flaky 1 anth")]))
    finally:
        await provider.aclose()
    assert _text(events) == "echo: flaky 1 anth"


async def test_a_stream_cut_before_message_stop_is_an_upstream_error(
    claude: AnthropicProvider,
) -> None:
    with pytest.raises(UpstreamError):
        await asyncio.wait_for(
            _run(claude, ProviderRequest(model="m", items=[_user("garbage")])), 10
        )
