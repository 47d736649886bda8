"""Upstream faults give a clear error or `response.failed`, are stored as failed, and leave
conversations without a half turn. Retries happen only before the first token."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer
from tests.reliability.conftest import server_log


def _client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)


def _stored_id(message: str) -> str:
    marker = "stored as '"
    assert marker in message, message
    return message.split(marker, 1)[1].split("'", 1)[0]


def _stream(server: LiveServer, body: dict[str, Any]) -> list[dict[str, Any]]:
    events = []
    with httpx.stream(
        "POST", f"{server.base_url}/responses", json={**body, "stream": True}, timeout=30
    ) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


@pytest.mark.parametrize(
    ("text", "status", "code"),
    [
        ("fail 500", 502, "upstream_error"),
        ("fail 503", 502, "upstream_error"),
        ("garbage", 502, "upstream_error"),
        ("reset", 502, "upstream_error"),
        ("stall", 504, "upstream_timeout"),
    ],
)
def test_upstream_failure_is_an_error_and_a_stored_failed_response(
    faulty_server: LiveServer, text: str, status: int, code: str
) -> None:
    response = httpx.post(
        f"{faulty_server.base_url}/responses", json={"model": MODEL, "input": text}, timeout=30
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    stored = _client(faulty_server).responses.retrieve(_stored_id(error["message"]))
    assert stored.status == "failed"
    assert stored.error is not None and stored.error.message


def test_rate_limit_is_retried_then_passed_on_with_retry_after(
    faulty_server: LiveServer, fake: FakeUpstream
) -> None:
    before = len(fake.requests)
    response = httpx.post(
        f"{faulty_server.base_url}/responses",
        json={"model": MODEL, "input": "fail 429"},
        timeout=30,
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert len(fake.requests) - before == 3  # the first try and two retries


def test_transient_failures_are_retried_until_the_model_answers(
    faulty_server: LiveServer, fake: FakeUpstream
) -> None:
    before = len(fake.requests)
    response = _client(faulty_server).responses.create(model=MODEL, input=f"flaky 2 {id(fake)}")
    assert response.status == "completed"
    assert len(fake.requests) - before == 3


def test_unreachable_provider_is_a_502_that_names_it_but_not_its_address(
    faulty_server: LiveServer,
) -> None:
    response = httpx.post(
        f"{faulty_server.base_url}/responses", json={"model": "down/m", "input": "x"}, timeout=30
    )
    assert response.status_code == 502
    message = response.json()["error"]["message"]
    assert "Provider 'down'" in message
    assert "127.0.0.1" not in message and "http://" not in message
    assert "provider down at http://127.0.0.1:" in server_log(faulty_server)


def test_errors_after_the_first_token_are_not_retried(
    faulty_server: LiveServer, fake: FakeUpstream
) -> None:
    before = len(fake.requests)
    events = _stream(faulty_server, {"model": MODEL, "input": "reset"})
    assert len(fake.requests) - before == 1
    assert events[-1]["type"] == "response.failed"
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert deltas, "the token sent before the reset reached the client"
    failed = events[-1]["response"]
    assert failed["output"][0]["status"] == "incomplete"


def test_stalled_stream_ends_failed_after_the_read_timeout(faulty_server: LiveServer) -> None:
    events = _stream(faulty_server, {"model": MODEL, "input": "stall"})
    assert events[-1]["type"] == "response.failed"
    error = events[-1]["response"]["error"]
    assert error["code"] == "server_error"  # the spec's code; "did not answer in time" says why
    assert "did not answer in time" in error["message"]
    stored = _client(faulty_server).responses.retrieve(events[-1]["response"]["id"])
    assert stored.status == "failed"


@pytest.mark.parametrize("text", ["fail 500", "reset", "stall", "garbage"])
def test_failed_turns_leave_the_conversation_untouched(
    faulty_server: LiveServer, text: str
) -> None:
    client = _client(faulty_server)
    conversation = client.conversations.create(items=[{"role": "user", "content": "before"}])
    for stream in (False, True):
        body = {"model": MODEL, "input": text, "conversation": conversation.id, "stream": stream}
        httpx.post(f"{faulty_server.base_url}/responses", json=body, timeout=30)
    items = client.conversations.items.list(conversation.id)
    assert [i.content[0].text for i in items.data] == ["before"]
    ok = client.responses.create(model=MODEL, input="after", conversation=conversation.id)
    assert ok.status == "completed"
