"""What is stored survives restarts, and upstream keys never reach storage."""

from __future__ import annotations

import openai

from tests.conftest import MODEL
from tests.live_server import LiveServer


def test_chain_survives_a_server_restart(fresh_server: LiveServer) -> None:
    client = openai.OpenAI(base_url=fresh_server.base_url, api_key="k", max_retries=0)
    first = client.responses.create(model=MODEL, input="before restart")
    fresh_server.restart()

    assert client.responses.retrieve(first.id).output_text == "echo: before restart"
    second = client.responses.create(
        model=MODEL, input="after restart", previous_response_id=first.id
    )
    assert second.status == "completed"
    assert [i.content[0].text for i in client.responses.input_items.list(second.id)] == [
        "after restart"
    ]


def test_upstream_key_is_never_stored(fresh_server: LiveServer) -> None:
    client = openai.OpenAI(base_url=fresh_server.base_url, api_key="k", max_retries=0)
    client.responses.create(model=MODEL, input="anything")
    fresh_server.stop()
    for suffix in ("", "-wal"):
        try:
            with open(fresh_server.database + suffix, "rb") as db:
                assert b"upstream-secret" not in db.read()
        except FileNotFoundError:
            pass
