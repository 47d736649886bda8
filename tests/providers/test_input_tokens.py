"""`POST /v1/responses/input_tokens` through the official SDK: the count of exactly what a
create would send the model (instructions, history, tools), the upstream's own where it has a
counting endpoint, else the estimate of the model family's tokenizer."""

from __future__ import annotations

import openai
import pytest

from tests.live_server import LiveServer
from tests.providers.test_provider_kinds import WEATHER
from threadline.providers import token_estimate
from threadline.providers.base import ProviderRequest


@pytest.fixture
def counting(kinds_server: LiveServer) -> openai.OpenAI:
    """The server of every provider kind (test_provider_kinds.py)."""
    return openai.OpenAI(base_url=kinds_server.base_url, api_key="any", max_retries=0)


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
