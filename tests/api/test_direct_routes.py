"""The hot create endpoints (`POST /v1/responses`, `/v1/chat/completions`, `/v1/embeddings`)
run without FastAPI's dependency solving (api/routing.py `DirectRoute`) and answer bad requests
exactly as FastAPI's order would: an unreadable body first, then the key, then the body's
fields."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
from fastapi import APIRouter, FastAPI, Request, Response

from tests.api.test_errors import assert_envelope
from tests.api.test_tenancy import create_key
from tests.conftest import SMALL_BODY_LIMIT
from tests.live_server import LiveServer
from threadline.api.app import create_app
from threadline.api.direct_dispatch import DirectDispatch
from threadline.api.errors import install_error_handlers
from threadline.api.routing import DirectRoute
from threadline.protocol.responses import ResponseCreateParams
from threadline.settings import Settings

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


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_hot_route_answers_past_the_framework_as_the_whole_stack_would(
    small_body_server: LiveServer, path: str
) -> None:
    server = small_body_server
    url = f"{server.url}{path}"
    before = _requests_counted(server, path)
    refused = httpx.post(url, content=b"{nope", headers={"X-Request-Id": "req_mine"})
    assert_envelope(refused, 400, code="invalid_json")
    assert refused.headers["x-request-id"] == "req_mine"
    assert refused.headers["content-type"] == "application/json"
    assert _requests_counted(server, path) == before + 1  # counted under its route
    assert_envelope(httpx.post(url, content=b"x" * (SMALL_BODY_LIMIT + 1)), 413)
    chunked = httpx.post(url, content=iter([b"x" * SMALL_BODY_LIMIT, b"x"]))  # no Content-Length
    assert_envelope(chunked, 413)
    # Only the exact path and POST take the direct way; the others are the router's answers.
    assert_envelope(httpx.post(f"{url}/"), 404, code="unknown_url")
    assert httpx.put(url).status_code == 405


def _requests_counted(server: LiveServer, path: str) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    wanted = f'route="{path}"'
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("threadline_http_requests_total{") and wanted in line
    )


def test_the_direct_paths_are_the_hot_routes_the_app_serves() -> None:
    app = create_app(Settings(database_url="memory://"))
    dispatch = app.build_middleware_stack().app
    assert isinstance(dispatch, DirectDispatch)
    assert dispatch.paths == sorted(ENDPOINTS)
    served = app.openapi()["paths"]
    assert all("post" in served[path] for path in ENDPOINTS)


def test_an_unexpected_error_on_a_direct_path_is_the_apps_500_and_is_raised_for_the_log() -> None:
    async def broken(_: Request) -> Response:
        raise RuntimeError("boom")

    app = FastAPI()
    install_error_handlers(app)
    router = APIRouter()
    route = DirectRoute("/v1/thing", broken_endpoint, methods=["POST"])
    route.get_route_handler = lambda: broken  # type: ignore[method-assign]
    router.routes.append(route)
    dispatch = DirectDispatch(_not_called, app, [router], lambda handler: handler)
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/thing",
        "headers": [],
        "query_string": b"",
    }
    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(dispatch(scope, receive, send))
    assert sent[0]["status"] == 500
    body = orjson.loads(sent[1]["body"])  # type: ignore[arg-type]
    assert body["error"]["type"] == "server_error"


async def broken_endpoint(params: ResponseCreateParams) -> Response:
    raise AssertionError("the handler replaced above runs instead")


async def _not_called(scope: object, receive: object, send: object) -> None:
    raise AssertionError("a direct path reached the framework's stack")
