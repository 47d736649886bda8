"""`POST /v1/responses/input_tokens` through the official SDK: the count of exactly what a
create would send the model (instructions, history, tools), the upstream's own where it has a
counting endpoint, else the estimate of the model family's tokenizer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer
from threadline.providers import token_estimate
from threadline.providers.base import ProviderRequest

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture(scope="module")
def counting(
    fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[openai.OpenAI]:
    directory = tmp_path_factory.mktemp("counting")
    providers = {
        "chat": {"base_url": fake.base_url, "api_key": "k"},
        "claude": {"kind": "anthropic", "base_url": fake.base_url, "api_key": "sk-ant"},
        "oai": {"kind": "openai-responses", "base_url": fake.base_url, "api_key": "sk-oai"},
    }
    env = {"THREADLINE_PROVIDERS": json.dumps(providers), "THREADLINE_DEFAULT_PROVIDER": "chat"}
    with LiveServer(
        str(directory / "threadline.db"), fake.base_url, env=env, log_path=directory / "log"
    ) as live:
        yield openai.OpenAI(base_url=live.base_url, api_key="any", max_retries=0)


@pytest.mark.parametrize("provider", ["oai", "claude"])
def test_input_tokens_is_the_upstreams_own_count_of_what_a_turn_would_send(
    counting: openai.OpenAI, provider: str
) -> None:
    model = f"{provider}/fake-model"
    first = counting.responses.create(model=model, input="my name is Ada", instructions="Be kind.")
    counted = counting.responses.input_tokens.count(
        model=model,
        input="what is my name",
        instructions="Be kind.",
        previous_response_id=first.id,
    )
    assert counted.object == "response.input_tokens"
    turn = counting.responses.create(
        model=model, input="what is my name", instructions="Be kind.", previous_response_id=first.id
    )
    # The fake counts words, for its count and for a turn's usage alike.
    assert turn.usage is not None and counted.input_tokens == turn.usage.input_tokens
    assert counted.input_tokens == 2 + 4 + 5 + 4  # instructions, history, answer, question


def test_input_tokens_on_chat_completions_is_the_tokenizers_estimate(
    counting: openai.OpenAI,
) -> None:
    counted = counting.responses.input_tokens.count(
        model="chat/gpt-4o", input="Hello world, this is a test.", tools=[WEATHER]
    )
    request = ProviderRequest(
        model="gpt-4o",
        items=[{"type": "message", "role": "user", "content": "Hello world, this is a test."}],
        tools=[WEATHER],
    )
    expected = token_estimate.estimate(request).tokens
    assert counted.input_tokens == expected
    # 8 tokens of o200k_base text, its framing, and the tool's schema.
    assert 8 < counted.input_tokens < 80


def test_counting_creates_nothing_and_claims_nothing(counting: openai.OpenAI) -> None:
    conversation = counting.conversations.create(items=[{"role": "user", "content": "hi there"}])
    counting.responses.input_tokens.count(
        model="oai/fake-model", input="and now", conversation=conversation.id
    )
    # The conversation is free for a turn at once, and holds nothing new.
    counting.responses.create(model="oai/fake-model", input="a turn", conversation=conversation.id)
    items = counting.conversations.items.list(conversation.id, order="asc").data
    assert [i.content[0].text for i in items] == ["hi there", "a turn", "echo: a turn"]  # type: ignore[union-attr]


def test_bad_count_requests_get_400(counting: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as missing:
        counting.responses.input_tokens.count(
            model="oai/fake-model", input="x", previous_response_id="resp_nope"
        )
    assert missing.value.code == "previous_response_not_found"
    with pytest.raises(openai.BadRequestError) as no_model:
        counting.responses.input_tokens.count(input="x")
    assert no_model.value.param == "model"
