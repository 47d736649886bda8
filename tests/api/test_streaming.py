"""stream: true — OpenAI's server-sent events, their order and numbering."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai

from tests.conftest import MODEL
from tests.spec import require_specs, validate_event

TEXT_ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def raw_events(http: httpx.Client, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every SSE frame, checking that `event:` always names the `data` object's type."""
    events: list[dict[str, Any]] = []
    with http.stream("POST", "/v1/responses", json={**body, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                event = json.loads(line[len("data: ") :])
                assert event["type"] == name
                events.append(event)
    return events


def _collapse(types: list[str]) -> list[str]:
    collapsed: list[str] = []
    for t in types:
        if not (collapsed and collapsed[-1] == t and t.endswith(".delta")):
            collapsed.append(t)
    return collapsed


def test_text_stream_follows_openai_event_order(http: httpx.Client) -> None:
    events = raw_events(http, {"model": MODEL, "input": "stream these five words please"})

    assert _collapse([e["type"] for e in events]) == TEXT_ORDER
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == "echo: stream these five words please"
    assert sum(e["type"] == "response.output_text.delta" for e in events) > 1
    assert events[0]["response"]["status"] == "in_progress"
    assert events[-1]["response"]["status"] == "completed"
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == deltas


def test_every_streamed_event_matches_both_specs(http: httpx.Client) -> None:
    require_specs()
    for body in (
        {"model": MODEL, "input": "validate me"},
        {
            "model": MODEL,
            "input": 'call get_weather {"city": "Paris"}',
            "tools": [
                {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
            ],
        },
        {"model": MODEL, "input": "long 30", "max_output_tokens": 16},
    ):
        for event in raw_events(http, body):
            validate_event(event)


def test_streamed_turn_is_stored_before_completed_is_sent(
    http: httpx.Client, client: openai.OpenAI
) -> None:
    events = raw_events(http, {"model": MODEL, "input": "durable"})
    final = events[-1]["response"]
    assert client.responses.retrieve(final["id"]).output_text == "echo: durable"


def test_sdk_stream_helper_assembles_the_final_response(client: openai.OpenAI) -> None:
    with client.responses.stream(model=MODEL, input="helper works") as stream:
        texts = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(texts) == "echo: helper works"
    assert final.output_text == "echo: helper works"
    assert final.status == "completed"


def test_sdk_create_with_stream_true_yields_typed_events(client: openai.OpenAI) -> None:
    stream = client.responses.create(model=MODEL, input="typed", stream=True)
    types = [event.type for event in stream]
    assert types[0] == "response.created" and types[-1] == "response.completed"


def test_incomplete_stream_ends_with_response_incomplete(http: httpx.Client) -> None:
    events = raw_events(http, {"model": MODEL, "input": "long 50", "max_output_tokens": 16})
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert not any(e["type"] == "response.completed" for e in events)


def test_upstream_failure_mid_stream_ends_with_response_failed(
    http: httpx.Client, client: openai.OpenAI
) -> None:
    events = raw_events(http, {"model": MODEL, "input": "reset"})
    terminal = events[-1]
    assert terminal["type"] == "response.failed"
    assert terminal["response"]["status"] == "failed"
    assert terminal["response"]["error"]["message"]
    stored = client.responses.retrieve(terminal["response"]["id"])
    assert stored.status == "failed"
    assert stored.error is not None


def test_reasoning_text_is_streamed_as_a_reasoning_item(http: httpx.Client) -> None:
    events = raw_events(http, {"model": MODEL, "input": "reason think it over"})
    final = events[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["reasoning", "message"]
    assert final["output"][0]["content"] == [{"type": "reasoning_text", "text": "think it over"}]
    for event in events:
        validate_event(event)


def test_unicode_line_separators_in_the_answer_survive(
    client: openai.OpenAI, http: httpx.Client
) -> None:
    text = "one\u2028two\u0085three\x0cfour"
    assert client.responses.create(model=MODEL, input=text).output_text == f"echo: {text}"
    events = raw_events(http, {"model": MODEL, "input": text})
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == f"echo: {text}"


REFUSAL_ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.refusal.delta",
    "response.refusal.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def test_a_refusal_is_streamed_as_a_refusal_part_of_the_message(
    http: httpx.Client, client: openai.OpenAI
) -> None:
    events = raw_events(http, {"model": MODEL, "input": "refuse I will not do that"})

    assert _collapse([e["type"] for e in events]) == REFUSAL_ORDER
    deltas = [e for e in events if e["type"] == "response.refusal.delta"]
    assert len(deltas) > 1
    assert "".join(e["delta"] for e in deltas) == "I will not do that"
    done = next(e for e in events if e["type"] == "response.refusal.done")
    assert done["refusal"] == "I will not do that" and done["content_index"] == 0
    added = next(e for e in events if e["type"] == "response.content_part.added")
    assert added["part"] == {"type": "refusal", "refusal": ""}
    refusal = {"type": "refusal", "refusal": "I will not do that"}
    final = events[-1]["response"]
    assert final["status"] == "completed"
    assert final["output"][0]["content"] == [refusal]
    stored = client.responses.retrieve(final["id"])
    assert stored.output[0].model_dump()["content"] == [refusal]  # type: ignore[union-attr]
