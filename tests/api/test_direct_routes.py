"""The hot create endpoints (`POST /v1/responses`, `/v1/chat/completions`, `/v1/embeddings`)
run without FastAPI's dependency solving (api/routing.py `DirectRoute`) and answer bad requests
exactly as FastAPI's order would: an unreadable body first, then the key, then the body's
fields."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import orjson
import pytest
from fastapi import APIRouter, FastAPI, Request, Response
from opentelemetry.trace import INVALID_SPAN_CONTEXT, NonRecordingSpan, Tracer, TracerProvider
from starlette.types import ASGIApp, Receive, Scope, Send

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

Handler = Callable[[Request], Awaitable[Response]]
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


class Odd(Exception):
    """An error the app has a handler of its own for (a 418, below)."""


def _app_with(handler: Handler, *, odd_handler_fails: bool = False) -> tuple[FastAPI, APIRouter]:
    app = FastAPI()
    install_error_handlers(app)

    async def odd(_: Request, exc: Exception) -> Response:
        if odd_handler_fails:
            raise KeyError("the handler's own bug")
        return Response(b'{"odd": true}', 418, media_type="application/json")

    app.add_exception_handler(Odd, odd)
    router = APIRouter()
    route = _route_running(handler)
    router.routes.append(route)
    app.router.routes.append(route)
    return app, router


def _route_running(handler: Handler) -> DirectRoute:
    """A DirectRoute at /v1/thing whose handler, on either path, is `handler`."""

    class Route(DirectRoute):
        def get_route_handler(self) -> Handler:
            return handler

    return Route("/v1/thing", broken_endpoint, methods=["POST"])


def _call(asgi: ASGIApp) -> tuple[list[dict[str, Any]], BaseException | None]:
    """What `asgi` sends for a POST /v1/thing, and what it raised."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/thing",
        "headers": [],
        "query_string": b"",
        "root_path": "",
    }
    try:
        asyncio.run(asgi(scope, receive, send))  # type: ignore[arg-type]
    except Exception as exc:
        return sent, exc
    return sent, None


def _both_ways(handler: Handler, **kwargs: bool) -> list[tuple[list[Any], str | None]]:
    """(statuses sent, error raised) through the whole stack, then through the direct path."""
    app, router = _app_with(handler, **kwargs)
    dispatch = DirectDispatch(_not_called, app, [router], lambda direct: direct)
    outcomes = []
    for asgi in (app, dispatch):
        sent, error = _call(asgi)
        statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
        outcomes.append((statuses, None if error is None else repr(error)))
    return outcomes


def test_an_unexpected_error_on_a_direct_path_is_the_apps_500_and_is_raised_for_the_log() -> None:
    async def broken(_: Request) -> Response:
        raise RuntimeError("boom")

    app, router = _app_with(broken)
    sent, error = _call(DirectDispatch(_not_called, app, [router], lambda handler: handler))
    assert isinstance(error, RuntimeError) and str(error) == "boom"
    assert sent[0]["status"] == 500
    body = orjson.loads(sent[1]["body"])
    assert body["error"]["type"] == "server_error"
    assert _both_ways(broken)[0] == _both_ways(broken)[1]


def test_an_error_raised_while_sending_the_response_is_answered_by_its_handler() -> None:
    class Unsendable(Response):
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            raise Odd("before the response started")

    async def handler(_: Request) -> Response:
        return Unsendable()

    whole, direct = _both_ways(handler)
    assert direct == whole == ([418], None)


def test_a_failing_exception_handler_is_the_apps_500_and_is_raised_for_the_log() -> None:
    async def handler(_: Request) -> Response:
        raise Odd("answered by a handler that fails")

    whole, direct = _both_ways(handler, odd_handler_fails=True)
    assert direct == whole
    assert direct[0] == [500] and "the handler's own bug" in str(direct[1])


def test_an_unexpected_error_is_counted_once_on_either_path() -> None:
    """The whole stack's 500 (a GET here) is sent by Starlette's error middleware, outside the
    metrics, the direct path's (the POST) inside them: each counts once in
    threadline_http_errors_total."""

    async def errors_counted() -> list[str]:
        app = create_app(Settings(database_url="memory://"))
        async with app.router.lifespan_context(app):

            async def broken(*_: object) -> None:
                raise RuntimeError("boom")

            app.state.services.auth.caller_for = broken
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                body = {"model": "m", "input": "hi"}
                assert (await client.post("/v1/responses", json=body)).status_code == 500
                assert (await client.get("/v1/responses/resp_x")).status_code == 500
                metrics = (await client.get("/metrics")).text
        return [x for x in metrics.splitlines() if x.startswith("threadline_http_errors_total{")]

    assert asyncio.run(errors_counted()) == [
        'threadline_http_errors_total{code="none",status="500"} 2.0'
    ]


def test_the_direct_path_names_fastapis_request_span_by_its_route() -> None:
    spans: list[_Span] = []
    provider = _Recording(spans)
    app = FastAPI(telemetry={"tracer_provider": provider, "metrics": False, "logs": False})

    async def handler(_: Request) -> Response:
        return Response(b"{}", media_type="application/json")

    router = APIRouter()
    router.routes.append(_route_running(handler))
    build = app.build_middleware_stack
    app.build_middleware_stack = (  # type: ignore[method-assign]
        lambda: DirectDispatch(build(), app, [router], lambda direct: direct)
    )
    sent, error = _call(app)
    assert error is None and sent[0]["status"] == 200
    assert [(span.name, span.attributes.get("http.route")) for span in spans] == [
        ("POST /v1/thing", "/v1/thing")
    ]


class _Span(NonRecordingSpan):
    def __init__(self, name: str, attributes: Mapping[str, Any] | None) -> None:
        super().__init__(INVALID_SPAN_CONTEXT)
        self.name = name
        self.attributes = dict(attributes or {})

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self.attributes.update(attributes)

    def update_name(self, name: str) -> None:
        self.name = name


class _Recording(TracerProvider):
    """A tracer provider keeping each span's name and attributes (the API alone has none)."""

    def __init__(self, spans: list[_Span]) -> None:
        self.spans = spans

    def get_tracer(self, *args: Any, **kwargs: Any) -> Tracer:
        spans = self.spans

        class _Tracer(Tracer):
            def start_span(self, name: str, *args: Any, **kwargs: Any) -> _Span:
                span = _Span(name, kwargs.get("attributes"))
                spans.append(span)
                return span

            def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
                raise NotImplementedError

        return _Tracer()


async def broken_endpoint(params: ResponseCreateParams) -> Response:
    raise AssertionError("the handler replaced above runs instead")


async def _not_called(scope: object, receive: object, send: object) -> None:
    raise AssertionError("a direct path reached the framework's stack")
