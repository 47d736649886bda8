"""Each provider kind behind the live server, through the official SDK: the Responses API and
Chat Completions answer the same on `anthropic` and `openai-responses` upstreams as on
`openai-chat`, tool calls round-trip, and reasoning a provider seals comes back to it on the
next turn."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer
from tests.spec_transport import checked_http_client

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
def kinds(kinds_server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=kinds_server.base_url, api_key="any", max_retries=0)


@pytest.mark.parametrize("provider", ["chat", "claude", "oai"])
def test_every_kind_answers_a_response_streamed_or_not(kinds: openai.OpenAI, provider: str) -> None:
    model = f"{provider}/fake-model"
    plain = kinds.responses.create(model=model, input="hello kinds", instructions="Be brief.")
    assert plain.status == "completed" and plain.output_text == "echo: hello kinds"
    assert plain.usage is not None and plain.usage.output_tokens == 3
    with kinds.responses.stream(model=model, input="long 4") as stream:
        final = stream.get_final_response()
    assert final.output_text == "w1 w2 w3 w4"


def test_provider_at_model_picks_the_provider_as_provider_slash_model_does(
    kinds: openai.OpenAI, fake: FakeUpstream
) -> None:
    answer = kinds.responses.create(model="claude@fake-model", input="hello at")
    assert answer.output_text == "echo: hello at" and answer.model == "claude@fake-model"
    sent = fake.last_request()
    assert sent["headers"].get("x-api-key") == "sk-ant"  # Anthropic's API, not the default's
    assert sent["body"]["model"] == "fake-model"
    # A prefix that names no provider is part of the model's own name.
    kinds.responses.create(model="vendor-model@2024", input="hello whole")
    assert fake.last_request()["body"]["model"] == "vendor-model@2024"


@pytest.mark.parametrize("provider", ["chat", "claude", "oai"])
def test_every_kind_round_trips_a_function_call(kinds: openai.OpenAI, provider: str) -> None:
    model = f"{provider}/fake-model"
    first = kinds.responses.create(
        model=model,
        input='call get_weather {"city": "Oslo"}',
        tools=[WEATHER],  # type: ignore[list-item]
    )
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert json.loads(call.arguments) == {"city": "Oslo"}
    second = kinds.responses.create(
        model=model,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "-3C"}],
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert second.output_text == "tool said: -3C"


def test_anthropic_thinking_goes_back_with_its_signature(
    kinds: openai.OpenAI, fake: FakeUpstream
) -> None:
    first = kinds.responses.create(
        model="claude/fake-model", input="reason slowly", reasoning={"effort": "low"}
    )
    reasoning = next(item for item in first.output if item.type == "reasoning")
    assert reasoning.content and reasoning.content[0].text == "slowly"
    kinds.responses.create(model="claude/fake-model", previous_response_id=first.id, input="next")
    assistant = fake.last_request()["body"]["messages"][1]
    assert assistant["content"][0] == {
        "type": "thinking",
        "thinking": "slowly",
        "signature": "sig:slowly",
    }


def test_openai_responses_reasoning_goes_back_as_the_upstreams_item(
    kinds: openai.OpenAI, fake: FakeUpstream
) -> None:
    first = kinds.responses.create(model="oai/fake-model", input="reason deeply")
    upstream_id = f"rs_fake{len(fake.requests) - 1}"
    kinds.responses.create(model="oai/fake-model", previous_response_id=first.id, input="next")
    sent = fake.last_request()["body"]
    assert sent["store"] is False
    reasoning = [item for item in sent["input"] if item["type"] == "reasoning"]
    assert reasoning == [
        {
            "type": "reasoning",
            "id": upstream_id,
            "summary": [],
            "encrypted_content": "enc:deeply",
        }
    ]


def test_chat_completions_run_on_every_kind(kinds: openai.OpenAI) -> None:
    for provider in ("chat", "claude", "oai"):
        completion = kinds.chat.completions.create(
            model=f"{provider}/fake-model", messages=[{"role": "user", "content": "hi there"}]
        )
        assert completion.choices[0].message.content == "echo: hi there"


def test_what_a_kind_cannot_do_is_a_400_naming_it(kinds: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as no_embeddings:
        kinds.embeddings.create(model="claude/fake-model", input="x")
    assert no_embeddings.value.body["param"] == "model"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as no_stop:
        kinds.chat.completions.create(
            model="oai/fake-model", messages=[{"role": "user", "content": "x"}], stop=["."]
        )
    assert no_stop.value.body["param"] == "stop"  # type: ignore[index]


def test_sealed_reasoning_leaves_sealed_by_us_and_comes_back_to_the_provider_as_its_own(
    kinds: openai.OpenAI, fake: FakeUpstream
) -> None:
    """A client that stores nothing passes the reasoning item back, as with OpenAI: only
    this server opens it, and the provider gets its own payload."""
    first = kinds.responses.create(model="oai/fake-model", input="reason privately", store=False)
    upstream_id = f"rs_fake{len(fake.requests) - 1}"
    reasoning = next(item for item in first.output if item.type == "reasoning")
    assert reasoning.encrypted_content is not None
    assert reasoning.encrypted_content.startswith("tl1:")
    assert "privately" not in reasoning.encrypted_content
    given = reasoning.model_dump(exclude_none=True)
    kinds.responses.create(
        model="oai/fake-model",
        input=[given, {"role": "user", "content": "next"}],  # type: ignore[list-item]
        store=False,
    )
    sent = [i for i in fake.last_request()["body"]["input"] if i["type"] == "reasoning"]
    assert sent == [
        {
            "type": "reasoning",
            "id": upstream_id,
            "summary": given["summary"],
            "encrypted_content": "enc:privately",
        }
    ]
    altered = {**given, "encrypted_content": given["encrypted_content"][:-8] + "AAAAAAAA"}
    with pytest.raises(openai.BadRequestError) as refused:
        kinds.responses.create(model="oai/fake-model", input=[altered], store=False)  # type: ignore[list-item]
    assert refused.value.code == "invalid_encrypted_content"
    assert refused.value.param == "input[0].encrypted_content"


@pytest.mark.parametrize("provider", ["chat", "claude", "oai"])
def test_every_kind_answers_what_both_specs_describe_across_a_conversation(
    kinds_server: LiveServer, fake: FakeUpstream, provider: str
) -> None:
    """Each body and stream event is checked against OpenAI's spec and Open Responses' (the
    checked transport), over turns of a conversation, streamed and not, with reasoning, a tool
    call and its output."""
    checked = openai.OpenAI(
        base_url=kinds_server.base_url,
        api_key="any",
        max_retries=0,
        http_client=checked_http_client(),
    )
    model = f"{provider}/fake-model"
    conversation = checked.conversations.create()
    first = checked.responses.create(
        model=model, input="reason carefully", conversation=conversation.id
    )
    assert first.status == "completed"
    with checked.responses.stream(
        model=model,
        input='call get_weather {"city": "Rome"}',
        conversation=conversation.id,
        tools=[WEATHER],  # type: ignore[list-item]
    ) as stream:
        called = stream.get_final_response()
    (call,) = [item for item in called.output if item.type == "function_call"]
    with checked.responses.stream(
        model=model,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        conversation=conversation.id,
        tools=[WEATHER],  # type: ignore[list-item]
    ) as stream:
        answered = stream.get_final_response()
    assert answered.output_text == "tool said: sunny"
    kept = checked.conversations.items.list(conversation.id, order="asc", limit=100)
    assert [item.type for item in kept.data].count("function_call_output") == 1


def _without_breakpoints(sent: list[Any]) -> list[Any]:
    """Anthropic messages without their cache breakpoint (on the last block sent: it moves)."""
    return [
        {
            **m,
            "content": [{k: v for k, v in b.items() if k != "cache_control"} for b in m["content"]],
        }
        if isinstance(m.get("content"), list)
        else m
        for m in sent
    ]


@pytest.mark.parametrize(
    ("provider", "field"), [("chat", "messages"), ("oai", "input"), ("claude", "messages")]
)
def test_a_long_chain_and_its_fork_send_the_whole_history_in_order(
    kinds: openai.OpenAI, fake: FakeUpstream, provider: str, field: str
) -> None:
    """Past the length from which an adapter keeps a history's translation (its JSON carried
    on from turn to turn), each turn still sends everything before it unchanged, and a fork of
    an earlier turn sends that turn's history, not the longer one kept since."""
    model = f"{provider}/fake-model"
    sent_at: list[list[object]] = []
    ids: list[str] = []
    for turn in range(40):  # two items a turn: past prefix_memo's DEFAULT_MIN_ITEMS
        response = kinds.responses.create(
            model=model,
            input=f"turn {turn}",
            previous_response_id=ids[-1] if ids else None,  # type: ignore[arg-type]
        )
        sent = _without_breakpoints(fake.last_request()["body"][field])
        if sent_at:
            assert sent[: len(sent_at[-1])] == sent_at[-1], turn
            assert len(sent) == len(sent_at[-1]) + 2, turn
        assert f"turn {turn}" in json.dumps(sent[-1])
        sent_at.append(sent)
        ids.append(response.id)
    fork = kinds.responses.create(model=model, input="a fork", previous_response_id=ids[34])
    assert fork.status == "completed"
    sent = _without_breakpoints(fake.last_request()["body"][field])
    assert sent[:-1] == [*sent_at[34], sent_at[35][len(sent_at[34])]]  # turn 34 and its answer
    assert "a fork" in json.dumps(sent[-1])
