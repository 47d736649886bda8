"""The adapter for upstreams that speak the Responses API, against the fake's `/v1/responses`:
the context goes whole with `store: false` and only input fields, the upstream's reasoning
comes back sealed (its id and encrypted content) and goes back as its own item, events map
one to one, and errors keep their status."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.fake_upstream import FakeUpstream
from threadline.errors import ModelNotFound, UpstreamError
from threadline.providers.base import (
    AUTO,
    Finish,
    ProviderEvent,
    ProviderRequest,
    ReasoningDelta,
    ReasoningSealed,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    UsageReport,
)
from threadline.providers.openai_responses import SEALED_PREFIX, OpenAIResponsesProvider
from threadline.providers.retry import RetryPolicy

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": None,
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture
async def upstream(fake: FakeUpstream) -> AsyncIterator[OpenAIResponsesProvider]:
    provider = OpenAIResponsesProvider(
        "oai", fake.base_url, api_key="sk-test", retry=RetryPolicy(max_retries=0)
    )
    yield provider
    await provider.aclose()


def _user(text: str) -> dict[str, Any]:
    return {"id": "msg_ours", "type": "message", "role": "user", "content": text}


async def _run(provider: OpenAIResponsesProvider, request: ProviderRequest) -> list[ProviderEvent]:
    return [event async for event in provider.stream(request)]


def _text(events: list[ProviderEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.parametrize("incremental", [True, False])
async def test_the_context_goes_whole_and_unstored(
    upstream: OpenAIResponsesProvider, fake: FakeUpstream, incremental: bool
) -> None:
    events = await _run(
        upstream,
        ProviderRequest(
            model="gpt-test",
            items=[_user("hello there")],
            instructions="Be brief.",
            prompt_cache_key="k1",
            incremental=incremental,
        ),
    )
    assert _text(events) == "echo: hello there"
    assert next(e for e in events if isinstance(e, UsageReport)).cached_tokens == 2
    assert events[-1] == Finish("stop")
    sent = fake.last_request()
    assert sent["headers"]["authorization"] == "Bearer sk-test"
    body = sent["body"]
    assert body["store"] is False and "previous_response_id" not in body
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["instructions"] == "Be brief."
    assert body["input"] == [{"type": "message", "role": "user", "content": "hello there"}]


@pytest.mark.parametrize("incremental", [True, False])
async def test_function_calls_and_their_outputs_round_trip(
    upstream: OpenAIResponsesProvider, fake: FakeUpstream, incremental: bool
) -> None:
    first = await _run(
        upstream,
        ProviderRequest(
            model="gpt-test",
            items=[_user('call get_weather {"city": "Oslo"}')],
            tools=[WEATHER],
            tool_choice=AUTO,
            incremental=incremental,
        ),
    )
    calls = [e for e in first if isinstance(e, ToolCallDelta)]
    assert calls[0].name == "get_weather" and calls[0].call_id
    assert "".join(c.arguments for c in calls).replace(" ", "") == '{"city":"Oslo"}'
    assert first[-1] == Finish("tool_calls")
    assert fake.last_request()["body"]["tools"] == [
        {k: v for k, v in WEATHER.items() if v is not None}
    ]

    call_id = calls[0].call_id
    assert call_id is not None
    history = [
        _user('call get_weather {"city": "Oslo"}'),
        {"id": "fc_ours", "type": "function_call", "call_id": call_id, "name": "get_weather",
         "arguments": '{"city": "Oslo"}', "status": "completed"},
        {"id": "fco_ours", "type": "function_call_output", "call_id": call_id, "output": "-3C"},
    ]  # fmt: skip
    second = await _run(upstream, ProviderRequest(model="gpt-test", items=history, tools=[WEATHER]))
    assert _text(second) == "tool said: -3C"
    sent = fake.last_request()["body"]["input"]
    assert sent[1] == {
        "type": "function_call",
        "call_id": call_id,
        "name": "get_weather",
        "arguments": '{"city": "Oslo"}',
    }
    assert sent[2] == {"type": "function_call_output", "call_id": call_id, "output": "-3C"}


@pytest.mark.parametrize("incremental", [True, False])
async def test_reasoning_comes_back_sealed_and_goes_back_as_the_upstreams_item(
    upstream: OpenAIResponsesProvider, fake: FakeUpstream, incremental: bool
) -> None:
    events = await _run(
        upstream,
        ProviderRequest(
            model="gpt-test",
            items=[_user("reason carefully now")],
            reasoning_effort="high",
            incremental=incremental,
        ),
    )
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "carefully now"
    sealed = next(e for e in events if isinstance(e, ReasoningSealed))
    index = len(fake.requests) - 1
    assert sealed.encrypted_content == f"{SEALED_PREFIX}rs_fake{index}:enc:carefully-now"
    assert fake.last_request()["body"]["reasoning"] == {"effort": "high"}
    assert next(e for e in events if isinstance(e, UsageReport)).reasoning_tokens == 2

    history = [
        _user("reason carefully now"),
        {
            "id": "rs_ours",
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "carefully now"}],
            "encrypted_content": sealed.encrypted_content,
        },
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "done"}]},
        {"id": "rs_other", "type": "reasoning", "summary": [],
         "encrypted_content": "anthropic.thinking:x"},
        _user("go on"),
    ]  # fmt: skip
    await _run(upstream, ProviderRequest(model="gpt-test", items=history))
    sent = fake.last_request()["body"]["input"]
    assert sent[1] == {
        "type": "reasoning",
        "id": f"rs_fake{index}",
        "summary": [{"type": "summary_text", "text": "carefully now"}],
        "encrypted_content": "enc:carefully-now",
    }
    assert [i["type"] for i in sent] == ["message", "reasoning", "message", "message"]


async def test_a_refusal_and_a_cut_answer_map_to_their_events(
    upstream: OpenAIResponsesProvider,
) -> None:
    refused = await _run(upstream, ProviderRequest(model="m", items=[_user("refuse no way")]))
    assert "".join(e.text for e in refused if isinstance(e, RefusalDelta)) == "no way"
    cut = await _run(
        upstream, ProviderRequest(model="m", items=[_user("long 9")], max_output_tokens=3)
    )
    assert _text(cut) == "w1 w2 w3"
    assert cut[-1] == Finish("length")


async def test_upstream_errors_keep_their_status(upstream: OpenAIResponsesProvider) -> None:
    with pytest.raises(UpstreamError) as refused:
        await _run(upstream, ProviderRequest(model="m", items=[_user("fail 400 nope")]))
    assert refused.value.status_code == 400
    with pytest.raises(ModelNotFound):
        await _run(upstream, ProviderRequest(model="missing-model", items=[_user("hi")]))
    with pytest.raises(UpstreamError):
        await _run(upstream, ProviderRequest(model="m", items=[_user("garbage")]))
