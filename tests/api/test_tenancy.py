"""API keys and tenant isolation."""

from __future__ import annotations

import subprocess
import sys

import httpx
import openai
import pytest

from tests.conftest import MODEL
from tests.live_server import LiveServer


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
