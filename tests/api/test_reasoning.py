"""Reasoning: what the model reasoned is sent back to it on later turns (as the
`reasoning_content` of the assistant message it led to) when its provider takes it, and
`reasoning.summary` is accepted and echoed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer

WEATHER_CALL: dict[str, Any] = {
    "type": "function_call",
    "call_id": "call_w",
    "name": "get_weather",
    "arguments": '{"city": "Paris"}',
}


def _assistant_messages(fake: FakeUpstream) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = fake.last_request()["body"]["messages"]
    return [m for m in messages if m["role"] == "assistant"]


def test_the_previous_turns_reasoning_reaches_the_model_with_its_answer(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    first = client.responses.create(model=MODEL, input="reason think it over")
    assert [item.type for item in first.output] == ["reasoning", "message"]

    client.responses.create(model=MODEL, input="and then?", previous_response_id=first.id)

    assert _assistant_messages(fake) == [
        {"role": "assistant", "content": "done", "reasoning_content": "think it over"}
    ]


def test_a_reasoning_item_given_as_input_reaches_the_model_with_the_tool_call_it_led_to(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    client.responses.create(
        model=MODEL,
        input=[
            {"role": "user", "content": "weather in Paris?"},
            {
                "type": "reasoning",
                "id": "rs_given",
                "summary": [{"type": "summary_text", "text": "I should look it up."}],
            },
            WEATHER_CALL,
            {"type": "function_call_output", "call_id": "call_w", "output": "sunny"},
        ],
    )
    [assistant] = _assistant_messages(fake)
    assert assistant["reasoning_content"] == "I should look it up."
    assert assistant["tool_calls"][0]["id"] == "call_w"


def test_reasoning_that_led_to_no_answer_is_not_sent(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    client.responses.create(
        model=MODEL,
        input=[
            {"type": "reasoning", "id": "rs_alone", "summary": [], "content": []},
            {
                "type": "reasoning",
                "id": "rs_orphan",
                "summary": [{"type": "summary_text", "text": "a thought"}],
            },
            {"role": "user", "content": "hello"},
        ],
    )
    sent = fake.last_request()["body"]["messages"]
    assert sent == [{"role": "user", "content": "hello"}]


@pytest.fixture
def no_reasoning_server(fake: FakeUpstream, tmp_path: Path) -> Iterator[LiveServer]:
    providers = {"quiet": {"base_url": fake.base_url, "send_reasoning": False}}
    env = {
        "THREADLINE_PROVIDERS": orjson.dumps(providers).decode(),
        "THREADLINE_DEFAULT_PROVIDER": "quiet",
    }
    with LiveServer(str(tmp_path / "threadline.db"), fake.base_url, env=env) as live:
        yield live


def test_a_provider_that_takes_no_reasoning_is_sent_none_but_the_reasoning_is_kept(
    no_reasoning_server: LiveServer, fake: FakeUpstream
) -> None:
    client = openai.OpenAI(base_url=no_reasoning_server.base_url, api_key="k", max_retries=0)
    first = client.responses.create(model=MODEL, input="reason think it over")

    second = client.responses.create(model=MODEL, input="and?", previous_response_id=first.id)

    assert _assistant_messages(fake) == [{"role": "assistant", "content": "done"}]
    assert second.status == "completed"
    stored = client.responses.retrieve(first.id)
    assert [item.type for item in stored.output] == ["reasoning", "message"]


@pytest.mark.parametrize("summary", ["auto", "concise", "detailed"])
def test_reasoning_summary_is_accepted_and_echoed(client: openai.OpenAI, summary: str) -> None:
    response = client.responses.create(
        model=MODEL,
        input="reason weigh it",
        reasoning={"effort": "low", "summary": summary},  # type: ignore[typeddict-item]
    )
    assert response.status == "completed"
    assert response.reasoning is not None
    assert response.reasoning.summary == summary
    assert response.reasoning.effort == "low"
    assert client.responses.retrieve(response.id).reasoning.summary == summary  # type: ignore[union-attr]
