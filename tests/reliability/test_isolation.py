"""Tenant isolation over every endpoint and object type: another tenant always gets 404.
And what the server logs never holds: keys, upstream credentials, message content."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer, create_api_key

SECRET_CONTENT = "the-launch-code-is-7781"


@pytest.fixture(scope="module")
def tenants(
    fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, httpx.Client, httpx.Client, dict[str, str]]]:
    directory = tmp_path_factory.mktemp("isolation")
    database = str(directory / "t.db")
    keys = {"alice": create_api_key(database, "alice"), "bob": create_api_key(database, "bob")}
    log = directory / "server.log"
    with LiveServer(database, fake.base_url, log_path=log, log_level="debug") as server:
        alice = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {keys['alice']}"}
        )
        bob = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {keys['bob']}"})
        with alice, bob:
            yield server, alice, bob, keys


def _alices_objects(alice: httpx.Client) -> dict[str, str]:
    conversation = alice.post(
        "/v1/conversations", json={"items": [{"role": "user", "content": SECRET_CONTENT}]}
    ).json()
    response = alice.post(
        "/v1/responses",
        json={"model": MODEL, "input": SECRET_CONTENT, "conversation": conversation["id"]},
    ).json()
    item = alice.get(f"/v1/conversations/{conversation['id']}/items").json()["data"][0]
    return {
        "response": response["id"],
        "conversation": conversation["id"],
        "item": item["id"],
        "message": response["output"][0]["id"],
    }


def _requests(ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any] | None]]:
    conv, resp, item = ids["conversation"], ids["response"], ids["item"]
    return [
        ("GET", f"/v1/responses/{resp}", None),
        ("GET", f"/v1/responses/{resp}/input_items", None),
        ("DELETE", f"/v1/responses/{resp}", None),
        ("POST", f"/v1/responses/{resp}/cancel", None),
        ("GET", f"/v1/conversations/{conv}", None),
        ("POST", f"/v1/conversations/{conv}", {"metadata": {"x": "y"}}),
        ("POST", f"/v1/conversations/{conv}/close", None),
        ("GET", f"/v1/conversations/{conv}/export", None),
        ("GET", f"/v1/conversations/{conv}/items", None),
        ("POST", f"/v1/conversations/{conv}/items", {"items": [{"role": "user", "content": "x"}]}),
        ("GET", f"/v1/conversations/{conv}/items/{item}", None),
        ("DELETE", f"/v1/conversations/{conv}/items/{item}", None),
        ("DELETE", f"/v1/conversations/{conv}", None),
    ]


def test_another_tenant_gets_404_on_every_endpoint(tenants: Any) -> None:
    _, alice, bob, _ = tenants
    ids = _alices_objects(alice)
    for method, path, body in _requests(ids):
        response = bob.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert SECRET_CONTENT not in response.text

    continuing = [
        {"model": MODEL, "input": "x", "previous_response_id": ids["response"]},
        {"model": MODEL, "input": "x", "conversation": ids["conversation"]},
        {"model": MODEL, "input": [{"type": "item_reference", "id": ids["message"]}]},
    ]
    for body in continuing:
        response = bob.post("/v1/responses", json=body)
        assert response.status_code in (400, 404), response.text
        assert SECRET_CONTENT not in response.text

    listed = bob.get("/v1/conversations").json()
    assert ids["conversation"] not in [c["id"] for c in listed["data"]]
    # and nothing of Alice's was changed or deleted by Bob's attempts
    assert alice.get(f"/v1/responses/{ids['response']}").status_code == 200
    assert (
        alice.get(f"/v1/conversations/{ids['conversation']}/items/{ids['item']}").status_code == 200
    )
    assert alice.get(f"/v1/conversations/{ids['conversation']}").json()["metadata"] == {}


def test_logs_hold_no_keys_credentials_or_content(tenants: Any) -> None:
    server, alice, _, keys = tenants
    alice.post("/v1/responses", json={"model": MODEL, "input": SECRET_CONTENT})
    alice.post("/v1/responses", json={"model": MODEL, "input": SECRET_CONTENT, "stream": True})
    alice.post("/v1/responses", json={"model": MODEL, "input": "fail 500"})
    log = Path(server.log_path).read_text(errors="replace")
    assert "POST /v1/responses" in log  # the log is on, at debug level
    for secret in (*keys.values(), "upstream-secret", SECRET_CONTENT):
        assert secret not in log
