"""`truncation: "auto"` through the official SDK: a conversation on a model with a small
context window keeps answering, the oldest whole turns left out of what the model is sent;
`disabled` sends everything and the model's refusal fails the turn. GET /v1/models shows the
limits truncation works with."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.fake_upstream import FakeUpstream
from tests.live_server import serving_providers

SMALL = "tiny/fake-window-60"
"""The fake refuses more than 60 words; the provider declares a window of 60 tokens."""


@pytest.fixture(scope="module")
def small(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    directory = tmp_path_factory.mktemp("truncation")
    providers = {
        "tiny": {
            "base_url": fake.base_url,
            "api_key": "k",
            "models": ["fake-window-60"],
            "model_limits": {"fake-window-60": {"context_window": 60, "max_output_tokens": 10}},
        }
    }
    with serving_providers(fake.base_url, directory, providers, "tiny") as live:
        yield openai.OpenAI(base_url=live.base_url, api_key="any", max_retries=0)


def test_a_long_conversation_keeps_answering_with_truncation_auto(
    small: openai.OpenAI, fake: FakeUpstream
) -> None:
    conversation = small.conversations.create()
    for turn in range(60):
        answer = small.responses.create(
            model=SMALL,
            input=f"turn {turn} says hello",
            conversation=conversation.id,
            truncation="auto",
            instructions="Be brief.",
        )
        assert answer.status == "completed", answer.error
        assert answer.output_text == f"echo: turn {turn} says hello"
    sent = fake.last_request()["body"]["messages"]
    # The instructions and this turn's input are kept; what came before is whole turns.
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[-1]["content"] == "turn 59 says hello"
    assert [m["role"] for m in sent[1:-1]] == ["user", "assistant"] * ((len(sent) - 2) // 2)
    assert 3 < len(sent) < 20
    # Nothing is lost from the conversation itself.
    items = small.conversations.items.list(conversation.id, limit=100)
    assert len(items.data) == 100 and items.has_more


def test_truncation_disabled_sends_everything_and_fails_when_it_does_not_fit(
    small: openai.OpenAI,
) -> None:
    conversation = small.conversations.create()
    with pytest.raises(openai.BadRequestError) as refused:
        for turn in range(20):
            small.responses.create(
                model=SMALL, input=f"turn {turn} says hello", conversation=conversation.id
            )
    assert "maximum context length" in refused.value.message and turn > 3
    stored = refused.value.message.split("stored as '")[1].split("'")[0]
    assert small.responses.retrieve(stored).status == "failed"


def test_a_tool_call_is_never_separated_from_its_output(
    small: openai.OpenAI, fake: FakeUpstream
) -> None:
    weather = {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    previous = None
    for turn in range(15):
        called = small.responses.create(
            model=SMALL,
            input=f'call get_weather {{"city": "c{turn}"}}',
            tools=[weather],
            previous_response_id=previous,
            truncation="auto",
        )
        call = called.output[0]
        answered = small.responses.create(
            model=SMALL,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],  # type: ignore[union-attr]
            tools=[weather],
            previous_response_id=called.id,
            truncation="auto",
        )
        assert answered.status == "completed", answered.error
        previous = answered.id
        sent = fake.last_request()["body"]["messages"]
        calls = {c["id"] for m in sent for c in m.get("tool_calls") or ()}
        outputs = {m["tool_call_id"] for m in sent if m["role"] == "tool"}
        assert calls == outputs


def test_models_show_the_limits_truncation_uses(small: openai.OpenAI) -> None:
    listed = {m.id: m.model_dump() for m in small.models.list()}
    assert listed["fake-window-60"]["context_window"] == 60
    assert listed["fake-window-60"]["max_output_tokens"] == 10
