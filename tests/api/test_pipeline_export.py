"""`GET /v1/threadline/export`: what changed in the caller's tenant, as NDJSON, resumable from the
cursor on its last line. Data made through the official SDK comes out as it is stored (usage,
input and output items, conversations, their items, stored chat completions); an export from a
cursor sends only what changed since, deletions as tombstones, across a restart; another tenant
sees none of it; a bad cursor is a 400 before anything is sent."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import orjson

from tests.api.test_errors import assert_envelope
from tests.api.test_tenancy import two_tenants  # noqa: F401 (a fixture)
from tests.conftest import MODEL
from tests.live_server import LiveServer


def export(
    server: LiveServer, key: str = "any-key", **params: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The records of one export, and its cursor record."""
    response = httpx.get(
        f"{server.base_url}/threadline/export",
        params=params,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [orjson.loads(line) for line in response.content.splitlines()]
    assert lines and lines[-1]["type"] == "cursor"
    return lines[:-1], lines[-1]


def sdk(server: LiveServer, key: str = "any-key") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)


def test_an_export_from_its_cursor_sends_only_what_changed_deletions_included(
    fresh_server: LiveServer,
) -> None:
    client = sdk(fresh_server)
    conversation = client.conversations.create(
        metadata={"team": "a"}, items=[{"type": "message", "role": "user", "content": "seed"}]
    )
    turn = client.responses.create(model=MODEL, input="hello", conversation=conversation.id)
    kept = client.responses.create(model=MODEL, input="kept")
    doomed = client.responses.create(model=MODEL, input="doomed")
    chat = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], store=True
    )

    records, cursor = export(fresh_server)
    assert cursor["records"] == len(records) and cursor["has_more"] is False
    by_key = {(r["type"], r.get("id")): r for r in records}
    stored = by_key[("response", turn.id)]
    assert stored["deleted"] is False
    assert stored["response"]["usage"] == turn.usage.model_dump(exclude_none=True)
    assert stored["response"]["output"][0]["content"][0]["text"] == "echo: hello"
    assert stored["input_items"][0]["content"][0]["text"] == "hello"
    assert by_key[("conversation", conversation.id)]["conversation"]["metadata"] == {"team": "a"}
    items = sorted(
        (r for r in records if r["type"] == "conversation.item"), key=lambda r: r["position"]
    )
    assert [(r["conversation_id"], r["position"]) for r in items] == [
        (conversation.id, n) for n in range(3)
    ]
    assert items[0]["item"]["content"][0]["text"] == "seed"
    completion = by_key[("chat.completion", chat.id)]
    assert completion["chat_completion"]["choices"][0]["message"]["content"] == "echo: hi"
    assert completion["messages"] == [{"role": "user", "content": "hi"}]
    assert ("response", kept.id) in by_key and ("response", doomed.id) in by_key

    fresh_server.restart()  # the cursor is the store's, not the process's
    client = sdk(fresh_server)
    client.responses.delete(doomed.id)
    client.conversations.update(conversation.id, metadata={"team": "b"})
    later = client.responses.create(model=MODEL, input="later")
    changed, second = export(fresh_server, cursor=cursor["cursor"])
    assert [(r["type"], r["id"], r["deleted"]) for r in changed] == [
        ("response", doomed.id, True),
        ("conversation", conversation.id, False),
        ("response", later.id, False),
    ]
    assert changed[1]["conversation"]["metadata"] == {"team": "b"}
    assert export(fresh_server, cursor=second["cursor"])[0] == []


def test_an_export_pages_by_limit_without_gaps_or_repeats(fresh_server: LiveServer) -> None:
    client = sdk(fresh_server)
    made = [client.responses.create(model=MODEL, input=f"n{n}").id for n in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
        records, last = export(fresh_server, **params)
        seen += [r["id"] for r in records]
        cursor, pages = last["cursor"], pages + 1
        if not last["has_more"]:
            break
    assert seen == made and pages == 3


def test_a_tenant_exports_only_its_own_data(
    two_tenants: tuple[openai.OpenAI, openai.OpenAI, LiveServer],  # noqa: F811
) -> None:
    alice, bob, server = two_tenants
    mine = alice.responses.create(model=MODEL, input="private")
    theirs = bob.responses.create(model=MODEL, input="theirs")
    alice_key, bob_key = alice.api_key, bob.api_key
    assert [r["id"] for r in export(server, alice_key)[0]] == [mine.id]
    assert [r["id"] for r in export(server, bob_key)[0]] == [theirs.id]
    refused = httpx.get(f"{server.base_url}/threadline/export", timeout=30)
    assert_envelope(refused, 401, code="invalid_api_key")


def test_a_bad_export_request_is_a_400_before_anything_is_sent(http: httpx.Client) -> None:
    garbled = http.get("/v1/threadline/export", params={"cursor": "nonsense"})
    assert_envelope(garbled, 400, code="invalid_cursor", param="cursor")
    expired = http.get("/v1/threadline/export", params={"cursor": "tlx1_0_1_1"})
    assert (
        "export again without a cursor"
        in assert_envelope(expired, 400, code="cursor_expired", param="cursor")["message"]
    )
    assert_envelope(http.get("/v1/threadline/export", params={"limit": 0}), 400)
    assert_envelope(http.get("/v1/threadline/export", params={"since": "soon"}), 400)
    assert_envelope(http.get("/v1/threadline/export", params={"colour": "red"}), 400)
