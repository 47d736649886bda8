"""API keys' limits: expiry, allowed models, requests and tokens per minute, spend budgets, as
a client of OpenAI sees them (403, 429 with `Retry-After`, `x-ratelimit-*` headers)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer

# A dollar a token in, two dollars a token out: costs that are easy to count.
PRICES = {MODEL: {"input": 1_000_000, "output": 2_000_000}}


def keys(server: LiveServer, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "threadline", "keys", *args, "--db", server.database],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


@pytest.fixture
def priced_server(fake: FakeUpstream, tmp_path: Path) -> Iterator[LiveServer]:
    with LiveServer(
        str(tmp_path / "threadline.db"),
        fake.base_url,
        log_path=tmp_path / "server.log",
        env={"THREADLINE_MODEL_PRICES": json.dumps(PRICES)},
    ) as live:
        yield live


def client_for(server: LiveServer, secret: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=secret, max_retries=0)


def key_with(server: LiveServer, name: str, *limits: str) -> str:
    """A key with these limits, on a server restarted so that it knows keys exist."""
    secret = keys(server, "create", name, *limits)
    server.restart()
    return secret


def test_a_key_over_its_requests_per_minute_is_told_to_retry(priced_server: LiveServer) -> None:
    secret = key_with(priced_server, "alice", "--rpm", "2")
    headers = {"Authorization": f"Bearer {secret}"}
    body = {"model": MODEL, "input": "hello"}
    with httpx.Client(base_url=priced_server.base_url, headers=headers, timeout=30) as http:
        first, second, third = (http.post("/responses", json=body) for _ in range(3))
    assert first.status_code == second.status_code == 200
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert second.headers["x-ratelimit-remaining-requests"] == "0"
    assert first.headers["x-ratelimit-reset-requests"].endswith("s")
    assert third.status_code == 429
    error = third.json()["error"]
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    assert "2 requests per minute" in error["message"]
    assert 1 <= int(third.headers["retry-after"]) <= 60
    with pytest.raises(openai.RateLimitError):
        client_for(priced_server, secret).responses.create(model=MODEL, input="again")


def test_a_spent_daily_budget_stops_the_key_with_insufficient_quota(
    priced_server: LiveServer,
) -> None:
    alice = client_for(priced_server, key_with(priced_server, "alice", "--daily-budget", "5"))
    answered = alice.responses.create(model=MODEL, input="one two three four five six")
    assert answered.usage is not None and answered.usage.input_tokens == 6  # $6 spent
    with pytest.raises(openai.RateLimitError) as refused:
        alice.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    error = refused.value.body
    assert isinstance(error, dict)
    assert (error["type"], error["code"]) == ("insufficient_quota", "insufficient_quota")
    assert "daily budget of $5.00" in error["message"]
    retry_after = int(refused.value.response.headers["retry-after"])
    assert 0 < retry_after <= 86_400
    assert refused.value.response.headers["x-should-retry"] == "false"


def test_raising_a_budget_lets_the_key_spend_again(priced_server: LiveServer) -> None:
    secret = key_with(priced_server, "alice", "--daily-budget", "1")
    alice = client_for(priced_server, secret)
    alice.responses.create(model=MODEL, input="two words")
    with pytest.raises(openai.RateLimitError):
        alice.responses.create(model=MODEL, input="more")
    changed = json.loads(keys(priced_server, "limits", "alice", "--daily-budget", "1000"))
    assert changed["daily_budget"] == 1000
    priced_server.restart()  # a running server reads the new limits within seconds
    assert alice.responses.create(model=MODEL, input="more").status == "completed"


def test_a_key_uses_only_the_models_it_is_allowed(priced_server: LiveServer) -> None:
    alice = client_for(priced_server, key_with(priced_server, "alice", "--models", MODEL))
    assert alice.responses.create(model=MODEL, input="hi").status == "completed"
    with pytest.raises(openai.PermissionDeniedError) as refused:
        alice.responses.create(model="fake-other", input="hi")
    error = refused.value.body
    assert isinstance(error, dict)
    assert (error["code"], error["param"]) == ("model_not_found", "model")
    assert f"This API key may use: {MODEL}" in error["message"]
    with pytest.raises(openai.PermissionDeniedError):
        alice.embeddings.create(model="text-embedding-3-small", input="x")


def test_an_expired_key_is_refused(priced_server: LiveServer) -> None:
    alice = client_for(priced_server, key_with(priced_server, "alice", "--expires-in", "1h"))
    assert alice.responses.create(model=MODEL, input="hi").status == "completed"
    keys(priced_server, "limits", "alice", "--expires-in", "1s")
    priced_server.restart()
    time.sleep(1.0)
    with pytest.raises(openai.AuthenticationError) as refused:
        alice.responses.create(model=MODEL, input="hi")
    assert "expired" in str(refused.value)
    listed = json.loads(keys(priced_server, "list", "--json"))
    assert listed[0]["limits"]["expires_at"] is not None


def test_a_streamed_answer_carries_the_rate_headers(priced_server: LiveServer) -> None:
    alice = client_for(
        priced_server, key_with(priced_server, "alice", "--rpm", "10", "--tpm", "1000")
    )
    with alice.responses.with_streaming_response.create(
        model=MODEL, input="hi", stream=True
    ) as streamed:
        assert streamed.headers["x-ratelimit-limit-requests"] == "10"
        assert streamed.headers["x-ratelimit-limit-tokens"] == "1000"
        assert streamed.headers["x-ratelimit-remaining-tokens"] == "1000"
        for _ in streamed.iter_lines():
            pass


def test_a_key_over_its_tokens_per_minute_waits_for_the_next_minute(
    priced_server: LiveServer,
) -> None:
    alice = client_for(priced_server, key_with(priced_server, "alice", "--tpm", "5"))
    alice.responses.create(model=MODEL, input="one two three four five six")
    with pytest.raises(openai.RateLimitError) as refused:
        alice.responses.create(model=MODEL, input="hi")
    error = refused.value.body
    assert isinstance(error, dict)
    assert (error["type"], error["code"]) == ("tokens", "rate_limit_exceeded")


def test_a_key_without_limits_sends_no_rate_headers(priced_server: LiveServer) -> None:
    secret = key_with(priced_server, "alice")
    answer = httpx.post(
        f"{priced_server.base_url}/responses",
        json={"model": MODEL, "input": "hi"},
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )
    assert answer.status_code == 200
    assert not any(name.startswith("x-ratelimit") for name in answer.headers)
