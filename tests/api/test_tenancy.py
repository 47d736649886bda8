"""API keys and tenant isolation."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer

AUTH_CACHE_SECONDS = 5.5
"""A little longer than a running server caches whether keys exist."""


def create_key(server: LiveServer, name: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "threadline", "keys", "create", name, "--db", server.database],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


@pytest.fixture
def two_tenants(fresh_server: LiveServer) -> tuple[openai.OpenAI, openai.OpenAI, LiveServer]:
    key_a, key_b = create_key(fresh_server, "alice"), create_key(fresh_server, "bob")
    fresh_server.restart()  # a running server notices new keys within seconds; don't wait
    return (
        openai.OpenAI(base_url=fresh_server.base_url, api_key=key_a, max_retries=0),
        openai.OpenAI(base_url=fresh_server.base_url, api_key=key_b, max_retries=0),
        fresh_server,
    )


def test_keys_are_required_once_one_exists(
    two_tenants: tuple[openai.OpenAI, openai.OpenAI, LiveServer],
) -> None:
    _, _, server = two_tenants
    response = httpx.post(f"{server.base_url}/responses", json={"model": MODEL, "input": "x"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    bad = openai.OpenAI(base_url=server.base_url, api_key="tl-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.responses.create(model=MODEL, input="x")


def test_another_tenant_cannot_see_or_touch_a_response(
    two_tenants: tuple[openai.OpenAI, openai.OpenAI, LiveServer],
) -> None:
    alice, bob, _ = two_tenants
    mine = alice.responses.create(model=MODEL, input="private")

    with pytest.raises(openai.NotFoundError):
        bob.responses.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.input_items.list(mine.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.delete(mine.id)
    with pytest.raises(openai.BadRequestError) as caught:
        bob.responses.create(model=MODEL, input="x", previous_response_id=mine.id)
    assert caught.value.code == "previous_response_not_found"
    with pytest.raises(openai.BadRequestError):
        bob.responses.create(
            model=MODEL, input=[{"type": "item_reference", "id": mine.output[0].id}]
        )

    assert alice.responses.retrieve(mine.id).output_text == "echo: private"


def test_keys_are_stored_only_as_hashes(
    two_tenants: tuple[openai.OpenAI, openai.OpenAI, LiveServer],
) -> None:
    alice, _, server = two_tenants
    secret = alice.api_key
    with open(server.database, "rb") as db:
        assert secret.encode() not in db.read()


def test_revoked_key_is_refused(
    two_tenants: tuple[openai.OpenAI, openai.OpenAI, LiveServer],
) -> None:
    alice, _, server = two_tenants
    subprocess.run(
        [sys.executable, "-m", "threadline", "keys", "revoke", "alice", "--db", server.database],
        check=True,
        capture_output=True,
    )
    server.restart()
    with pytest.raises(openai.AuthenticationError):
        alice.responses.create(model=MODEL, input="x")


def threadline_keys(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "threadline", "keys", *args, "--db", server.database],
        capture_output=True,
        text=True,
        check=False,
    )


def unkeyed_status(server: LiveServer) -> int:
    return httpx.get(f"{server.base_url}/conversations", timeout=10).status_code


def test_revoking_the_last_key_keeps_the_server_closed_until_the_operator_opens_it(
    fresh_server: LiveServer,
) -> None:
    create_key(fresh_server, "alice")
    time.sleep(AUTH_CACHE_SECONDS)  # the running server learns of the key
    assert unkeyed_status(fresh_server) == 401
    assert threadline_keys(fresh_server, "revoke", "alice").returncode == 0
    time.sleep(AUTH_CACHE_SECONDS)  # ... and of its revocation
    assert unkeyed_status(fresh_server) == 401

    refused = threadline_keys(fresh_server, "open")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    opened = threadline_keys(fresh_server, "open", "--yes")
    assert opened.returncode == 0 and "OPEN" in opened.stderr
    deadline = time.monotonic() + 3 * AUTH_CACHE_SECONDS
    while unkeyed_status(fresh_server) != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert unkeyed_status(fresh_server) == 200
    assert fresh_server.log_path is not None
    log = fresh_server.log_path.read_text()
    assert "The server is now OPEN" in log


def test_opening_is_refused_while_a_live_key_exists(fresh_server: LiveServer) -> None:
    create_key(fresh_server, "alice")
    refused = threadline_keys(fresh_server, "open", "--yes")
    assert refused.returncode == 1
    assert "alice" in refused.stderr and "revoke" in refused.stderr
    fresh_server.restart()
    assert unkeyed_status(fresh_server) == 401


def test_the_first_key_says_what_it_would_hide_and_can_take_the_open_tenant(
    fresh_server: LiveServer,
) -> None:
    client = openai.OpenAI(base_url=fresh_server.base_url, api_key="any", max_retries=0)
    made_while_open = client.conversations.create()

    hidden = threadline_keys(fresh_server, "create", "alice")
    assert hidden.returncode == 0
    assert "tenant 'default'" in hidden.stderr and "--tenant default" in hidden.stderr
    threadline_keys(fresh_server, "revoke", "alice")
    quiet = threadline_keys(fresh_server, "create", "bob")  # not the first key: nothing to say
    assert "notice" not in quiet.stderr

    owner = threadline_keys(fresh_server, "create", "ops", "--tenant", "default").stdout.strip()
    fresh_server.restart()
    ops = openai.OpenAI(base_url=fresh_server.base_url, api_key=owner, max_retries=0)
    assert ops.conversations.retrieve(made_while_open.id).id == made_while_open.id


def test_a_cookie_the_provider_set_is_never_sent_back_for_this_or_another_tenant(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    # By name, not 127.0.0.1: a cookie jar refuses cookies from bare IP addresses anyway.
    upstream = fake.base_url.replace("127.0.0.1", "localhost")
    with LiveServer(str(tmp_path / "t.db"), upstream, log_path=tmp_path / "log") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        client.responses.create(model=MODEL, input="set cookie")
        assert client.responses.create(model=MODEL, input="after").output_text == "echo: after"
    sent = next(r for r in reversed(fake.requests) if "after" in str(r["body"]["messages"]))
    assert "cookie" not in sent["headers"]
