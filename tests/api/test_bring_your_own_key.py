"""Bring-your-own-key mode through the official SDK: each caller's bearer is its own key for
the model provider, sent upstream in place of the provider's (as each API carries a key), and
names its tenant, so each key sees only its own data; the key is never stored or logged."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.api.test_errors import assert_envelope
from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer, serving_providers


@pytest.fixture(scope="module")
def byok(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("byok")
    providers = {
        "chat": {"base_url": fake.base_url, "api_key": "operator-key"},
        "claude": {"kind": "anthropic", "base_url": fake.base_url},
    }
    byok_mode = {"THREADLINE_BRING_YOUR_OWN_KEY": "true"}
    with serving_providers(
        fake.base_url, directory, providers, "chat", env=byok_mode, log_level="debug"
    ) as live:
        yield live


def _caller(server: LiveServer) -> tuple[openai.OpenAI, str]:
    key = f"sk-own-{secrets.token_hex(12)}"
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0), key


def test_the_callers_key_goes_upstream_in_place_of_the_providers(
    byok: LiveServer, fake: FakeUpstream
) -> None:
    client, key = _caller(byok)
    client.responses.create(model=MODEL, input="hello with my key")
    assert fake.last_request()["headers"]["authorization"] == f"Bearer {key}"
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert fake.last_request()["headers"]["authorization"] == f"Bearer {key}"
    client.responses.create(model="claude/fake-model", input="hello anthropic")
    assert fake.last_request()["headers"]["x-api-key"] == key  # Anthropic's way
    with client.responses.stream(model=MODEL, input="streamed with my key") as stream:
        stream.get_final_response()
    assert fake.last_request()["headers"]["authorization"] == f"Bearer {key}"
    assert "fake-model" in {model.id for model in client.models.list()}
    # Each provider asked its upstream for its models with the caller's key, its API's way.
    listings = fake.model_listings[-2:]
    asked = {listing.get("authorization") or listing.get("x-api-key") for listing in listings}
    assert asked == {f"Bearer {key}", key}


def test_each_key_sees_only_its_own_data(byok: LiveServer) -> None:
    alice, _ = _caller(byok)
    bob, _ = _caller(byok)
    response = alice.responses.create(model=MODEL, input="alice's secret plan")
    conversation = alice.conversations.create()
    completion = alice.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "kept"}], store=True
    )
    for attempt in (
        lambda: bob.responses.retrieve(response.id),
        lambda: bob.conversations.retrieve(conversation.id),
        lambda: bob.chat.completions.retrieve(completion.id),
    ):
        with pytest.raises(openai.NotFoundError):
            attempt()
    with pytest.raises(openai.BadRequestError) as unknown:  # as OpenAI answers an unknown id
        bob.responses.create(model=MODEL, previous_response_id=response.id, input="steal")
    assert unknown.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert alice.responses.retrieve(response.id).output_text == "echo: alice's secret plan"


def test_a_request_without_a_key_is_401_and_background_is_refused(byok: LiveServer) -> None:
    answer = httpx.post(f"{byok.base_url}/responses", json={"model": MODEL, "input": "x"})
    assert_envelope(answer, 401, code="invalid_api_key")
    client, _ = _caller(byok)
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=MODEL, input="later", background=True)
    assert refused.value.body["param"] == "background"  # type: ignore[index]


def test_the_key_is_never_stored_or_logged(byok: LiveServer) -> None:
    client, key = _caller(byok)
    conversation = client.conversations.create()
    client.responses.create(model=MODEL, input="remember nothing", conversation=conversation.id)
    client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "x"}], store=True
    )
    database = Path(byok.database)
    kept = [database, *database.parent.glob(f"{database.name}-*"), byok.log_path]
    for path in kept:
        assert path is not None and key.encode() not in path.read_bytes(), path
