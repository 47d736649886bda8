"""Idle expiry of conversations and retention of responses, on a server with short settings."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.api.test_tenancy import create_key
from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer


@pytest.fixture
def short_lived(fake: FakeUpstream, tmp_path: Path) -> Iterator[LiveServer]:
    env = {
        "THREADLINE_CONVERSATION_IDLE_TTL": "1.5",
        "THREADLINE_RESPONSE_RETENTION": "1.5",
        "THREADLINE_SWEEP_INTERVAL": "0.2",
    }
    with LiveServer(
        str(tmp_path / "t.db"), fake.base_url, env=env, log_path=tmp_path / "log"
    ) as live:
        yield live


def _wait_until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_idle_conversation_expires_and_refuses_turns(short_lived: LiveServer) -> None:
    client = openai.OpenAI(base_url=short_lived.base_url, api_key="k", max_retries=0)
    conversation = client.conversations.create(metadata={"owner": "ttl"})
    client.responses.create(model=MODEL, input="still fresh", conversation=conversation.id)

    _wait_until(
        lambda: client.conversations.retrieve(conversation.id).model_extra["status"] == "expired"
    )
    with pytest.raises(openai.ConflictError) as caught:
        client.responses.create(model=MODEL, input="too late", conversation=conversation.id)
    assert "expired" in caught.value.message
    listed = httpx.get(f"{short_lived.base_url}/conversations", params={"status": "expired"}).json()
    assert conversation.id in [c["id"] for c in listed["data"]]
    # expired conversations stay readable: the items are the user's record
    assert len(client.conversations.items.list(conversation.id).data) == 2


def test_retention_sweep_deletes_old_responses_but_keeps_conversation_items(
    short_lived: LiveServer,
) -> None:
    client = openai.OpenAI(base_url=short_lived.base_url, api_key="k", max_retries=0)
    lone = client.responses.create(model=MODEL, input="ephemeral")
    conversation = client.conversations.create()
    client.responses.create(model=MODEL, input="kept", conversation=conversation.id)

    def gone() -> bool:
        try:
            client.responses.retrieve(lone.id)
        except openai.NotFoundError:
            return True
        return False

    _wait_until(gone)
    texts = [
        i.content[0].text for i in client.conversations.items.list(conversation.id, order="asc")
    ]
    assert texts == ["kept", "echo: kept"]


def test_a_tenant_may_have_its_own_retention(fake: FakeUpstream, tmp_path: Path) -> None:
    """Responses are kept forever by default, but tenant `brief`'s for 1.5 s; a stored chat
    completion goes with its tenant's responses."""
    env = {
        "THREADLINE_TENANT_RESPONSE_RETENTION": json.dumps({"brief": 1.5, "other": None}),
        "THREADLINE_SWEEP_INTERVAL": "0.2",
    }
    database = str(tmp_path / "t.db")
    with LiveServer(database, fake.base_url, env=env, log_path=tmp_path / "log") as server:
        brief_key, lasting_key = create_key(server, "brief"), create_key(server, "lasting")
        server.restart()
        brief = openai.OpenAI(base_url=server.base_url, api_key=brief_key, max_retries=0)
        lasting = openai.OpenAI(base_url=server.base_url, api_key=lasting_key, max_retries=0)
        passing = brief.responses.create(model=MODEL, input="brief")
        chat = brief.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "brief"}], store=True
        )
        kept = lasting.responses.create(model=MODEL, input="lasting")

        def gone() -> bool:
            try:
                brief.responses.retrieve(passing.id)
            except openai.NotFoundError:
                pass
            else:
                return False
            try:
                brief.chat.completions.retrieve(chat.id)
            except openai.NotFoundError:
                return True
            return False

        _wait_until(gone)
        assert lasting.responses.retrieve(kept.id).id == kept.id
