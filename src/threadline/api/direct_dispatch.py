"""The hottest routes (`POST /v1/responses`, `/v1/chat/completions`, `/v1/embeddings`: the
DirectRoutes of routing.py) sent straight to their handler, past the framework's stack.

Every other request crosses about a dozen ASGI layers (Starlette's error middleware, FastAPI's
telemetry and body-limit wrappers, the exception middleware, the router's scan of every route,
FastAPI's exit stacks…): a measured share of the CPU of a turn (docs/performance.md). A request
for a DirectRoute here goes through what it needs of them, and answers as the whole stack
would: the body-size limit and the metrics are the same middleware classes, FastAPI's tracing
is told the route, an exception is answered by the app's own exception handlers (looked up as
Starlette does), and one that none handles is the app's 500, then raised again for the server
to log, as Starlette's error middleware does. The request id wraps both paths (app.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.telemetry._api import _route_selected
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadline.api.routing import DirectRoute

Handler = Callable[[Request], Awaitable[Response]]


class DirectDispatch:
    """Routes a POST to a DirectRoute's exact path through `wrap(handler)`, anything else
    to `app`. `wrap` puts the middleware the direct path keeps around the handler's ASGI app."""

    def __init__(
        self,
        app: ASGIApp,
        routes_of: FastAPI,
        routers: Sequence[APIRouter],
        wrap: Callable[[ASGIApp], ASGIApp],
    ) -> None:
        """`routers`: those `routes_of` includes at its root, without a prefix of its own
        (their routes' paths are then the paths served)."""
        self.app = app
        self._routes: dict[str, ASGIApp] = {}
        self._route_of: dict[str, DirectRoute] = {}
        handlers = routes_of.exception_handlers
        for route in (route for router in routers for route in router.routes):
            if not isinstance(route, DirectRoute):
                continue
            # An exact path (no parameters): nothing to match but the path itself.
            if not route.param_convertors and route.methods == {"POST"}:
                handler = _DirectHandler(route.get_route_handler(), handlers)
                self._routes[route.path] = wrap(handler)
                self._route_of[route.path] = route
        self._app_of_scope = routes_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = _route_path(scope)
            direct = self._routes.get(path)
            if direct is not None:
                route = self._route_of[path]
                # What Starlette's app and router would have put in the scope.
                scope["app"] = self._app_of_scope
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = {}
                # FastAPI's own tracing names the request's span by its route, as its router
                # does once it picked one (nothing happens when tracing is off).
                _route_selected(scope=scope, path=route.path_format)
                await direct(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @property
    def paths(self) -> list[str]:
        return sorted(self._routes)


class _DirectHandler:
    """Runs a route's handler and sends its response as Starlette's two exception layers
    would: an exception with a handler of its own (by class, or an HTTPException's status)
    before the response started is answered by that handler; anything else, that handler's
    own failure included, is the app's 500 when nothing was sent yet, and is raised again."""

    def __init__(
        self, handler: Handler, exception_handlers: Mapping[Any, Callable[..., Any]]
    ) -> None:
        self._handler = handler
        self._by_class: dict[type[BaseException], Callable[..., Any]] = {}
        self._by_status: dict[int, Callable[..., Any]] = {}
        self._server_error: Callable[..., Any] | None = None
        for key, handle in exception_handlers.items():
            if key in (500, Exception):  # Starlette's error middleware answers these
                self._server_error = handle
            elif isinstance(key, int):
                self._by_status[key] = handle
            else:
                self._by_class[key] = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def sender(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        request = Request(scope, receive)
        try:
            try:
                response = await self._handler(request)
                await response(scope, receive, sender)
            except Exception as exc:
                handle = self._handler_for(exc)
                if handle is None:
                    raise
                if started:
                    msg = "Caught handled exception, but response already started."
                    raise RuntimeError(msg) from exc
                await (await _call(handle, request, exc))(scope, receive, sender)
        except Exception as exc:
            if not started:
                if self._server_error is None:
                    answer: Response = PlainTextResponse("Internal Server Error", 500)
                else:
                    answer = await _call(self._server_error, request, exc)
                await answer(scope, receive, send)
            raise  # the server logs it, as it does behind Starlette's error middleware

    def _handler_for(self, exc: Exception) -> Callable[..., Any] | None:
        if isinstance(exc, HTTPException) and exc.status_code in self._by_status:
            return self._by_status[exc.status_code]
        for kind in type(exc).__mro__:
            if kind in self._by_class:
                return self._by_class[kind]
        return None


async def _call(handle: Callable[..., Any], request: Request, exc: Exception) -> Response:
    if inspect.iscoroutinefunction(handle):
        response: Response = await handle(request, exc)
    else:
        response = await run_in_threadpool(handle, request, exc)
    return response


def _route_path(scope: Scope) -> str:
    """The path the router would match: the path under the app's root path."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path
