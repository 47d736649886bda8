"""Full-text search over a tenant's stored items, over the API and from the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from tests.api.test_key_limits import client_for, key_with, keys
from tests.conftest import MODEL
from tests.live_server import LiveServer


def test_stored_messages_are_found_by_their_words_in_their_tenant_only(
    fresh_server: LiveServer,
) -> None:
    alice_secret = keys(fresh_server, "create", "alice")
    bob_secret = key_with(fresh_server, "bob")
    alice = client_for(fresh_server, alice_secret)
    thread = alice.conversations.create()
    alice.responses.create(
        model=MODEL, input="The invoice for March is overdue", conversation=thread.id
    )
    alice.responses.create(model=MODEL, input="Nothing to see")
    labelled = alice.conversations.create(metadata={"topic": "Invoice disputes"})

    def search(secret: str, q: str) -> httpx.Response:
        return httpx.get(
            f"{fresh_server.base_url}/threadline/search",
            params={"q": q},
            headers={"Authorization": f"Bearer {secret}"},
        )

    found = search(alice_secret, "march invoice").json()
    assert found["object"] == "list" and found["has_more"] is False
    # The question, and the fake model's echo of it.
    assert {(h["role"], h["conversation_id"]) for h in found["data"]} == {
        ("user", thread.id),
        ("assistant", thread.id),
    }
    assert all("invoice for March" in h["snippet"] for h in found["data"])
    # A conversation's metadata is searched too, and listed first.
    by_topic = search(alice_secret, "invoice").json()["data"]
    assert (by_topic[0]["matched"], by_topic[0]["conversation_id"]) == ("metadata", labelled.id)
    assert by_topic[0]["snippet"] == "topic=Invoice disputes"
    assert [h["matched"] for h in by_topic[1:]] == ["content", "content"]
    assert search(bob_secret, "march invoice").json()["data"] == []
    refused = search(alice_secret, "?!")
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "q"

    command = ["search", "overdue", "--tenant", "alice", "--json", "--db", fresh_server.database]
    shown = subprocess.run(
        [sys.executable, "-m", "threadline", *command],
        capture_output=True,
        text=True,
        check=True,
    )
    assert len(json.loads(shown.stdout)["data"]) == 2
