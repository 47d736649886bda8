"""The hot create endpoints (`POST /v1/responses`, `/v1/chat/completions`, `/v1/embeddings`)
run without FastAPI's dependency solving (api/routing.py `DirectRoute`) and answer bad requests
exactly as FastAPI's order would: an unreadable body first, then the key, then the body's
fields."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_errors import assert_envelope
from tests.api.test_tenancy import create_key
from tests.live_server import LiveServer

ENDPOINTS = ("/v1/responses", "/v1/chat/completions", "/v1/embeddings")


@pytest.fixture
def keyed(fresh_server: LiveServer) -> tuple[LiveServer, str]:
    key = create_key(fresh_server, "alice")
    fresh_server.restart()
    return fresh_server, key


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_bad_request_is_answered_in_fastapis_order(
    keyed: tuple[LiveServer, str], path: str
) -> None:
    server, key = keyed
    url = f"{server.url}{path}"
    good = {"Authorization": f"Bearer {key}"}
    # An unreadable body is refused before the key is looked at.
    assert_envelope(httpx.post(url, content=b"{nope"), 400, code="invalid_json")
    too_deep = b"[" * 201 + b"]" * 201
    assert_envelope(httpx.post(url, content=too_deep), 400, code="invalid_json")
    # A readable body without a key: the key first.
    assert_envelope(httpx.post(url, json={"colour": "red"}), 401, code="invalid_api_key")
    # With the key: the body's fields.
    unknown = httpx.post(url, json={"colour": "red"}, headers=good)
    assert_envelope(unknown, 400)
    missing = httpx.post(url, content=b"", headers=good)
    assert_envelope(missing, 400, code="missing_required_parameter")
    not_an_object = httpx.post(url, json=["model"], headers=good)
    assert_envelope(not_an_object, 400)
