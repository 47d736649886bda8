"""Tests of the fake Chat Completions upstream (the model's test double) itself."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.fake_upstream import FakeUpstream
from tests.fake_upstream_replies import example_from_schema, parse_calls

WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def client(fake: FakeUpstream) -> Iterator[OpenAI]:
    with OpenAI(base_url=fake.base_url, api_key="test", max_retries=0, timeout=5) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def http(fake: FakeUpstream) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, timeout=5) as raw:
        yield raw


def user(text: str) -> Any:
    return [{"role": "user", "content": text}]


def sse_events(body: str) -> list[Any]:
    """Decode an SSE body into JSON chunks, with "[DONE]" kept as a string."""
    assert body.endswith("\n\n")
    events = [block.removeprefix("data: ") for block in body.split("\n\n") if block]
    return [event if event == "[DONE]" else json.loads(event) for event in events]


def test_default_echo_and_request_record(fake: FakeUpstream, client: OpenAI) -> None:
    messages: Any = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "echo: first"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "world"}],
        },
    ]
    completion = client.chat.completions.create(model="fake-model", messages=messages)
    assert completion.model == "fake-model"
    choice = completion.choices[0]
    assert (choice.message.content, choice.finish_reason) == ("echo: hello world", "stop")
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (7, 3)
    index = (completion.model_extra or {})["threadline_fake"]["request_index"]
    recorded = fake.requests[index]
    assert recorded["body"]["messages"] == messages
    assert recorded["headers"]["authorization"] == "Bearer test"
    assert fake.last_request() == recorded


def test_streamed_echo_with_usage_chunk(http: httpx.Client) -> None:
    body = {
        "model": "any-name",
        "messages": user("one two three"),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    response = http.post("/chat/completions", json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    first, *middle, finish, usage = events[:-1]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    pieces = [chunk["choices"][0]["delta"]["content"] for chunk in middle]
    assert len(pieces) == 4
    assert "".join(pieces) == "echo: one two three"
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert all(chunk["model"] == "any-name" and chunk["usage"] is None for chunk in events[:-2])
    assert usage["choices"] == []
    assert usage["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def test_no_usage_chunk_without_include_usage(client: OpenAI) -> None:
    stream = client.chat.completions.create(model="m", messages=user("hi"), stream=True)
    chunks = list(stream)
    assert all(chunk.choices and chunk.usage is None for chunk in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo: hi"


def test_describe_lists_what_the_model_received(client: OpenAI) -> None:
    messages: Any = [
        {"role": "system", "content": "sys"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_9",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_9", "content": "sunny"},
        {"role": "user", "content": " describe "},
    ]
    completion = client.chat.completions.create(
        model="m",
        messages=messages,
        tools=[WEATHER_TOOL],
        max_completion_tokens=2,
        temperature=0.5,
        response_format={"type": "json_object"},
    )
    assert completion.choices[0].finish_reason == "stop"  # describe is never cut
    seen = json.loads(completion.choices[0].message.content or "")
    assert seen == {
        "messages": [
            {"role": "system", "content": "sys"},
            {
                "role": "user",
                "content": [{"text": "look"}, {"image_url": "https://x/cat.png", "detail": "low"}],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_9", "name": "get_weather", "arguments": '{"city":"Oslo"}'}
                ],
            },
            {"role": "tool", "content": "sunny", "tool_call_id": "call_9"},
            {"role": "user", "content": " describe "},
        ],
        "tools": ["get_weather"],
        "response_format": {"type": "json_object"},
        "max_tokens": 2,
        "params": {"temperature": 0.5},
    }


def test_tool_call_stream_reassembles_with_the_sdk(client: OpenAI) -> None:
    text = 'call get_weather {"city": "Paris"}'
    with client.chat.completions.stream(
        model="m", messages=user(text), tools=[WEATHER_TOOL]
    ) as stream:
        deltas = [e.chunk.choices[0].delta for e in stream if e.type == "chunk" and e.chunk.choices]
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls or []
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "Paris"}')
    assert call.id.startswith("call_")
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.choices[0].message.content is None
    call_deltas = [d.tool_calls[0] for d in deltas if d.tool_calls]
    assert call_deltas[0].id == call.id and call_deltas[0].function is not None
    assert call_deltas[0].function.arguments == ""
    assert len(call_deltas) >= 3  # the header, then the arguments in 2+ pieces
    assert all(d.id is None for d in call_deltas[1:])


def test_parallel_calls_then_tool_results(client: OpenAI) -> None:
    text = 'call2 get_weather {"city": "a;b"} ; lookup {"q": 1}'
    completion = client.chat.completions.create(model="m", messages=user(text))
    calls = completion.choices[0].message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        ("get_weather", '{"city": "a;b"}'),
        ("lookup", '{"q": 1}'),
    ]
    assert len({c.id for c in calls}) == 2
    history: Any = [
        *user(text),
        completion.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny"},
        {"role": "tool", "tool_call_id": calls[1].id, "content": "found"},
    ]
    answer = client.chat.completions.create(model="m", messages=history)
    assert answer.choices[0].message.content == "tool said: sunny | found"


def test_json_schema_and_json_object(client: OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "score": {"type": ["number", "null"]},
            "ok": {"type": "boolean"},
            "tags": {"type": "array", "items": {"enum": ["red", "blue"]}},
            "pet": {"$ref": "#/$defs/Pet"},
        },
        "$defs": {"Pet": {"type": "object", "properties": {"kind": {"type": "string"}}}},
        "additionalProperties": False,
    }
    response_format: Any = {"type": "json_schema", "json_schema": {"name": "p", "schema": schema}}
    completion = client.chat.completions.create(
        model="m", messages=user("hi"), response_format=response_format
    )
    assert json.loads(completion.choices[0].message.content or "") == {
        "name": "x",
        "age": 1,
        "score": 1.5,
        "ok": True,
        "tags": ["red"],
        "pet": {"kind": "x"},
    }
    completion = client.chat.completions.create(
        model="m", messages=user("hi there"), response_format={"type": "json_object"}
    )
    assert json.loads(completion.choices[0].message.content or "") == {"echo": "hi there"}


def test_max_tokens_cuts_words(client: OpenAI, http: httpx.Client) -> None:
    completion = client.chat.completions.create(model="m", messages=user("long 10"), max_tokens=3)
    assert completion.choices[0].message.content == "w1 w2 w3"
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 3
    uncut = client.chat.completions.create(model="m", messages=user("long 4"), max_tokens=4)
    assert (uncut.choices[0].message.content, uncut.choices[0].finish_reason) == (
        "w1 w2 w3 w4",
        "stop",
    )
    body = {"model": "m", "messages": user("a b c d"), "max_completion_tokens": 2, "stream": True}
    events = sse_events(http.post("/chat/completions", json=body).text)[:-1]
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events)
    assert (text, events[-1]["choices"][0]["finish_reason"]) == ("echo: a", "length")


def test_reasoning_content_is_streamed(http: httpx.Client) -> None:
    body = {"model": "m", "messages": user("reason think it over"), "stream": True}
    events = sse_events(http.post("/chat/completions", json=body).text)[:-1]
    deltas = [e["choices"][0]["delta"] for e in events[1:-1]]
    reasoning = "".join(d.get("reasoning_content", "") for d in deltas)
    assert (reasoning, "".join(d.get("content", "") for d in deltas)) == ("think it over", "done")
    assert len(deltas) == 4


def test_a_forced_or_named_tool_is_called_without_a_directive(client: OpenAI) -> None:
    parameters = {"type": "object", "properties": {"location": {"type": "string"}}}
    tools: Any = [
        {"type": "function", "function": {"name": "get_weather", "parameters": parameters}}
    ]

    def ask(text: str, **options: Any) -> Any:
        return client.chat.completions.create(
            model="m", messages=user(text), tools=tools, **options
        ).choices[0]

    named = ask("What's the weather like in San Francisco?")
    assert named.finish_reason == "tool_calls"
    call = named.message.tool_calls[0].function  # type: ignore[index, union-attr]
    assert (call.name, call.arguments) == ("get_weather", '{"location":"x"}')
    forced = ask("hi", tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert forced.message.tool_calls[0].function.name == "get_weather"  # type: ignore[index, union-attr]
    assert ask("hi", tool_choice="required").finish_reason == "tool_calls"
    assert ask("hi").message.content == "echo: hi"
    assert ask("the weather", tool_choice="none").message.content == "echo: the weather"


def test_refuse_declines_streamed_and_not(client: OpenAI, http: httpx.Client) -> None:
    whole = client.chat.completions.create(model="m", messages=user("refuse I cannot help"))
    message = whole.choices[0].message
    assert (message.content, message.refusal) == (None, "I cannot help")
    assert whole.choices[0].finish_reason == "stop"
    body = {"model": "m", "messages": user("refuse I cannot help"), "stream": True}
    events = sse_events(http.post("/chat/completions", json=body).text)[:-1]
    deltas = [e["choices"][0]["delta"] for e in events[1:-1]]
    assert "".join(d.get("refusal", "") for d in deltas) == "I cannot help"
    assert len(deltas) > 1 and not any(d.get("content") for d in deltas)


def test_fail_429_has_retry_after_and_openai_error_body(client: OpenAI, http: httpx.Client) -> None:
    response = http.post("/chat/completions", json={"model": "m", "messages": user("fail 429")})
    assert (response.status_code, response.headers["retry-after"]) == (429, "1")
    assert response.json() == {
        "error": {
            "message": "fake upstream failure 429",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="m", messages=user("fail 429"), stream=True)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=user("fail 503"))
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="missing-model", messages=user("hi"))
    assert missing.value.code == "model_not_found"


def test_fail_with_text_quotes_it_in_the_error_message(http: httpx.Client) -> None:
    body = {"model": "m", "messages": user("fail 400 my secret prompt")}
    response = http.post("/chat/completions", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "fake upstream failure 400: my secret prompt"


def test_garbage(client: OpenAI, http: httpx.Client) -> None:
    with pytest.raises(json.JSONDecodeError):
        list(client.chat.completions.create(model="m", messages=user("garbage"), stream=True))
    response = http.post("/chat/completions", json={"model": "m", "messages": user("garbage")})
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_reset_breaks_the_stream(http: httpx.Client) -> None:
    for stream in (True, False):
        body = {"model": "m", "messages": user("reset"), "stream": stream}
        with (
            pytest.raises(httpx.RemoteProtocolError),
            http.stream("POST", "/chat/completions", json=body) as response,
        ):
            response.read()


def test_stall_sends_one_chunk_then_nothing(http: httpx.Client) -> None:
    body = {"model": "m", "messages": user("stall"), "stream": True}
    with http.stream("POST", "/chat/completions", json=body, timeout=0.3) as response:
        lines = response.iter_lines()
        assert json.loads(next(lines).removeprefix("data: "))["choices"][0]["delta"]["role"]
        with pytest.raises(httpx.ReadTimeout):
            next(lines)
            next(lines)


def test_slow_and_chunk_delay(fake: FakeUpstream, client: OpenAI) -> None:
    started = time.monotonic()
    completion = client.chat.completions.create(model="m", messages=user("slow 0.2"))
    assert time.monotonic() - started >= 0.2
    assert completion.choices[0].message.content == "echo: slow 0.2"
    fake.set_chunk_delay(0.05)
    try:
        started = time.monotonic()
        list(client.chat.completions.create(model="m", messages=user("a b"), stream=True))
        assert time.monotonic() - started >= 0.2  # 4 chunks after the role chunk
    finally:
        fake.set_chunk_delay(0)


def test_models_list(client: OpenAI) -> None:
    assert {"fake-model", "fake-vision"} <= {model.id for model in client.models.list()}


def test_clear(fake: FakeUpstream, client: OpenAI) -> None:
    fake.clear()
    assert fake.requests == []
    with pytest.raises(AssertionError):
        fake.last_request()
    client.chat.completions.create(model="m", messages=user("again"))
    assert [r["body"]["messages"] for r in fake.requests] == [user("again")]


def test_parsers() -> None:
    ids = iter(["id1", "id2", "id3"])
    calls = parse_calls("a ; b [1, 2] trailing ; c not json", lambda: next(ids))
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("id1", "a", "{}"),
        ("id2", "b", "[1, 2]"),
        ("id3", "c", "not json"),
    ]
    assert example_from_schema({"anyOf": [{"type": "null"}, {"type": "integer"}]}) == 1
    assert example_from_schema({"type": "object", "properties": {}}) == {}


def test_command_line_entrypoint() -> None:
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "tests.fake_upstream", "--port", "0"]
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().split()[-1]
            body = {"model": "m", "messages": user("ping")}
            reply = httpx.post(f"{base_url}/chat/completions", json=body, timeout=5).json()
            assert reply["choices"][0]["message"]["content"] == "echo: ping"
        finally:
            process.terminate()
            process.wait(timeout=5)
