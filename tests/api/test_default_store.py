"""`default_store`: what an omitted `store` means, set by the operator, per tenant. With it
false (as on the OpenResponses server) a response is stored only when its request says
`store: true`; the response echoes the effective value, and what needs storage says what to
send."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.api.test_tenancy import create_key
from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer


@pytest.fixture
def unstored(fake: FakeUpstream, tmp_path: Path) -> Iterator[LiveServer]:
    """Stores nothing by default, but for tenant `keeper`."""
    env = {
        "THREADLINE_DEFAULT_STORE": "false",
        "THREADLINE_TENANT_DEFAULT_STORE": json.dumps({"keeper": True}),
    }
    with LiveServer(
        str(tmp_path / "threadline.db"), fake.base_url, env=env, log_path=tmp_path / "log"
    ) as live:
        yield live


def _client(server: LiveServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)


def test_an_omitted_store_follows_the_default_and_an_explicit_one_is_kept(
    unstored: LiveServer,
) -> None:
    client = _client(unstored, "any")
    answer = client.responses.create(model=MODEL, input="keep nothing")
    assert answer.store is False and answer.output_text == "echo: keep nothing"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(answer.id)
    with pytest.raises(openai.BadRequestError) as unknown:
        client.responses.create(model=MODEL, previous_response_id=answer.id, input="next")
    assert "'store': true" in unknown.value.message
    kept = client.responses.create(model=MODEL, input="keep this", store=True)
    assert kept.store is True
    assert client.responses.retrieve(kept.id).output_text == "echo: keep this"
    follow = client.responses.create(model=MODEL, previous_response_id=kept.id, input="on")
    assert follow.store is False and follow.status == "completed"


def test_what_needs_storage_says_to_send_store_true(unstored: LiveServer) -> None:
    client = _client(unstored, "any")
    conversation = client.conversations.create()
    for needs in ({"conversation": conversation.id}, {"background": True}):
        with pytest.raises(openai.BadRequestError) as refused:
            client.responses.create(model=MODEL, input="x", **needs)  # type: ignore[arg-type]
        assert refused.value.body["param"] == "store"  # type: ignore[index]
        assert "'store': true" in refused.value.message
    turn = client.responses.create(
        model=MODEL, input="in a conversation", conversation=conversation.id, store=True
    )
    assert turn.store is True
    assert len(client.conversations.items.list(conversation.id).data) == 2


def test_a_tenant_may_have_its_own_default(unstored: LiveServer) -> None:
    keeper_key, other_key = create_key(unstored, "keeper"), create_key(unstored, "other")
    unstored.restart()  # a running server notices new keys within seconds; don't wait
    keeper, other = _client(unstored, keeper_key), _client(unstored, other_key)
    kept = keeper.responses.create(model=MODEL, input="the keeper keeps")
    assert kept.store is True
    assert keeper.responses.retrieve(kept.id).id == kept.id
    passed = other.responses.create(model=MODEL, input="the other does not")
    assert passed.store is False
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(passed.id)


def test_an_api_key_may_have_its_own_default(fresh_server: LiveServer) -> None:
    """Two keys of one tenant (which stores by default): the key made `--no-default-store`
    stores nothing unless asked; its tenant's other key is unchanged; `keys list` says which."""
    plain = create_key(fresh_server, "team")
    minimal = subprocess.run(
        [
            *(sys.executable, "-m", "threadline", "keys", "create", "team-minimal"),
            *("--tenant", "team", "--no-default-store", "--db", fresh_server.database),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    listed = subprocess.run(
        [
            sys.executable,
            "-m",
            "threadline",
            "keys",
            "list",
            "--json",
            "--db",
            fresh_server.database,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert {k["name"]: k["default_store"] for k in json.loads(listed)} == {
        "team": None,
        "team-minimal": False,
    }
    fresh_server.restart()
    kept = _client(fresh_server, plain).responses.create(model=MODEL, input="kept")
    assert kept.store is True
    client = _client(fresh_server, minimal)
    passed = client.responses.create(model=MODEL, input="not kept")
    assert passed.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(passed.id)
    assert client.responses.retrieve(kept.id).id == kept.id  # the same tenant's
    conversation = client.conversations.create()
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=MODEL, input="x", conversation=conversation.id)
    assert "'store': true" in refused.value.message
    asked = client.responses.create(model=MODEL, input="keep this one", store=True)
    assert client.responses.retrieve(asked.id).store is True
