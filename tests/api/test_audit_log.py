"""The audit log: deletions, exports and key changes recorded with their actor, read by a tenant
over the API (its own only) and by the operator from the command line."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.api.test_key_limits import client_for, key_with, keys
from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer, create_api_key


def audit_page(server: LiveServer, secret: str, **params: Any) -> dict[str, Any]:
    answer = httpx.get(
        f"{server.base_url}/threadline/audit_log",
        params=params,
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def key_id(server: LiveServer, name: str) -> str:
    listed = json.loads(keys(server, "list", "--json"))
    found: str = next(k["id"] for k in listed if k["name"] == name)
    return found


def test_deletions_and_exports_are_recorded_with_the_key_that_made_them(
    fresh_server: LiveServer,
) -> None:
    secret = keys(fresh_server, "create", "alice")
    bob_secret = key_with(fresh_server, "bob")
    alice = client_for(fresh_server, secret)
    thread = alice.conversations.create()
    httpx.get(
        f"{fresh_server.base_url}/conversations/{thread.id}/export",
        headers={"Authorization": f"Bearer {secret}"},
    ).raise_for_status()
    alice.conversations.delete(thread.id)
    answer = alice.responses.create(model=MODEL, input="hi")
    alice.responses.delete(answer.id)
    uploaded = alice.files.create(file=("a.txt", b"text"), purpose="user_data")
    alice.files.delete(uploaded.id)

    page = audit_page(fresh_server, secret)
    assert page["object"] == "list"
    types = [e["type"] for e in page["data"]]
    assert types == [
        "file.deleted",
        "response.deleted",
        "conversation.deleted",
        "conversation.exported",
        "api_key.created",
    ]
    actor = f"api_key:{key_id(fresh_server, 'alice')}"
    assert {e["actor"] for e in page["data"][:4]} == {actor}
    assert page["data"][0]["object_id"] == uploaded.id
    assert page["data"][-1]["actor"].startswith("operator")
    assert page["first_id"] == page["data"][0]["id"] and page["has_more"] is False

    # Another tenant sees its own events only.
    bobs = audit_page(fresh_server, bob_secret)
    assert [e["type"] for e in bobs["data"]] == ["api_key.created"]

    # Pages, and a filter by type.
    first = audit_page(fresh_server, secret, limit=2)
    rest = audit_page(fresh_server, secret, after=first["last_id"])
    assert [e["type"] for e in first["data"] + rest["data"]] == types
    only = audit_page(fresh_server, secret, event_types=["response.deleted"])
    assert [e["object_id"] for e in only["data"]] == [answer.id]


def test_the_operator_reads_every_tenant_s_events_and_erasures_keep_no_name(
    fresh_server: LiveServer,
) -> None:
    client = openai.OpenAI(base_url=fresh_server.base_url, api_key="open", max_retries=0)
    client.responses.create(model=MODEL, input="hi", user="ann")
    erase = ["erase", "--tenant", "default", "--user", "ann", "--yes"]
    done = subprocess.run(
        [sys.executable, "-m", "threadline", *erase, "--db", fresh_server.database],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["responses"] == 1
    shown = subprocess.run(
        [sys.executable, "-m", "threadline", "audit", "--json", "--db", fresh_server.database],
        capture_output=True,
        text=True,
        check=True,
    )
    (erased,) = [json.loads(line) for line in shown.stdout.splitlines()]
    assert (erased["type"], erased["tenant"]) == ("end_user.erased", "default")
    assert erased["details"]["end_user_sha256"] == hashlib.sha256(b"ann").hexdigest()
    assert erased["details"]["responses"] == 1
    assert "ann" not in shown.stdout.replace(hashlib.sha256(b"ann").hexdigest(), "")


def test_with_audit_reads_every_read_of_stored_content_names_the_key_that_read_it(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    database = str(tmp_path / "threadline.db")
    secret = create_api_key(database, "reader")
    env = {"THREADLINE_AUDIT_READS": "true"}
    with LiveServer(database, fake.base_url, env=env, log_path=tmp_path / "log") as live:
        client = client_for(live, secret)
        thread = client.conversations.create(items=[{"role": "user", "content": "kept"}])
        answer = client.responses.create(model=MODEL, input="hi", conversation=thread.id)
        before = [e["type"] for e in audit_page(live, secret)["data"]]
        assert before == ["api_key.created"]  # a turn's own writes and reads are not recorded
        client.responses.retrieve(answer.id)
        client.responses.input_items.list(answer.id)
        items = client.conversations.items.list(thread.id)
        client.conversations.items.retrieve(items.data[0].id, conversation_id=thread.id)
        httpx.get(
            f"{live.base_url}/threadline/search",
            params={"q": "kept"},
            headers={"Authorization": f"Bearer {secret}"},
        ).raise_for_status()
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve("resp_missing")  # a failed read records nothing

        events = list(reversed(audit_page(live, secret)["data"]))[1:]
        actor = f"api_key:{key_id(live, 'reader')}"
    assert [(e["type"], e["object_id"]) for e in events] == [
        ("response.read", answer.id),
        ("response.input_items_read", answer.id),
        ("conversation.items_read", thread.id),
        ("conversation.item_read", thread.id),
        ("items.searched", None),
    ]
    assert {e["actor"] for e in events} == {actor}
    assert events[3]["details"] == {"item_id": items.data[0].id}
    assert events[4]["details"] == {"hits": 1}
