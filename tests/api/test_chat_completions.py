"""`POST /v1/chat/completions` through the official SDK: an application written against Chat
Completions works unchanged, streamed or not, with tools, structured output, images and stop
sequences, and bad input is a 400 that names the parameter."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def test_a_chat_completion_answers_with_the_models_message(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello there"},
        ],
    )
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == MODEL
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "echo: hello there"
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_the_model_is_sent_the_messages_as_given(client: openai.OpenAI, fake: FakeUpstream) -> None:
    client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "developer", "content": "Use metric units."},
            {"role": "user", "content": [{"type": "text", "text": "describe"}]},
        ],
        temperature=0.3,
        max_completion_tokens=50,
        stop=["\n\n"],
        user="end-user-1",
    )
    sent = fake.last_request()["body"]
    assert sent["messages"] == [
        {"role": "system", "content": "Use metric units."},
        {"role": "user", "content": "describe"},
    ]
    assert sent["temperature"] == 0.3
    assert sent["stop"] == ["\n\n"]
    assert sent["user"] == "end-user-1"


def test_a_streamed_chat_completion_sends_deltas_then_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "long 6"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "w1 w2 w3 w4 w5 w6"
    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finishing] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 6
    assert len({c.id for c in chunks}) == 1


def test_a_tool_call_round_trip(client: openai.OpenAI, fake: FakeUpstream) -> None:
    messages: list[dict[str, object]] = [{"role": "user", "content": "What's the weather?"}]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])  # type: ignore[arg-type]
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "x"}  # the fake fills the schema

    messages += [
        choice.message.model_dump(),  # as an application appends the message it got
        {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
    ]
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])  # type: ignore[arg-type]
    assert second.choices[0].message.content == "tool said: 18C and sunny"
    sent = fake.last_request()["body"]["messages"]
    assert sent[1]["tool_calls"][0]["id"] == call.id
    assert sent[2] == {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"}


def test_streamed_tool_calls_assemble_in_the_sdk(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model=MODEL,
        messages=[{"role": "user", "content": 'call get_weather {"city": "Oslo"}'}],
        tools=[WEATHER],  # type: ignore[list-item]
    ) as stream:
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    assert final.choices[0].finish_reason == "tool_calls"


def test_tool_choice_and_structured_output_reach_the_model(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "a number please"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "number", "schema": schema, "strict": True},
        },
    )
    assert json.loads(completion.choices[0].message.content or "") == {"n": 1}
    sent = fake.last_request()["body"]
    assert sent["response_format"]["json_schema"]["schema"] == schema

    client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hi"}],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    )
    sent = fake.last_request()["body"]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["parallel_tool_calls"] is False


def test_images_reach_the_model(client: openai.OpenAI, fake: FakeUpstream) -> None:
    client.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.com/cat.png", "detail": "low"},
                    },
                ],
            }
        ],
    )
    parts = fake.last_request()["body"]["messages"][0]["content"]
    assert parts[1] == {
        "type": "image_url",
        "image_url": {"url": "https://example.com/cat.png", "detail": "low"},
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": MODEL, "messages": []}, "messages"),
        ({"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]}, "messages[0]"),
        ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
        ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "seed": 1}, "seed"),
        (
            {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "metadata": {"k": 1}},
            "metadata.k",
        ),
        ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "bogus": 1}, "bogus"),
        (
            {
                "model": MODEL,
                "messages": [{"role": "tool", "tool_call_id": "call_9", "content": "x"}],
            },
            "input",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(
    http: httpx.Client, body: dict[str, object], param: str
) -> None:
    answer = http.post("/v1/chat/completions", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] is not None and error["param"].startswith(param)


def test_an_upstream_failure_is_an_openai_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as failed:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "fail 400 no"}]
        )
    assert failed.value.status_code == 400


def test_an_upstream_failure_mid_stream_is_an_error_event(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "garbage"}], stream=True
    )
    with pytest.raises(openai.APIError):
        list(stream)
