"""The hottest routes (`POST /v1/responses`, `/v1/chat/completions`, `/v1/embeddings`: the
DirectRoutes of routing.py) sent straight to their handler, past the framework's stack.

Every other request crosses about a dozen ASGI layers (Starlette's error middleware, FastAPI's
telemetry and body-limit wrappers, the exception middleware, the router's scan of every route,
FastAPI's exit stacks…): a measured share of the CPU of a turn (docs/performance.md). A request
for a DirectRoute here goes through what it needs of them, and answers as the whole stack
would: the body-size limit and the metrics are the same middleware classes, an exception is
answered by the app's own exception handlers (looked up by its class, as Starlette does), and
one that none handles is the app's 500, then raised again for the server to log, as
Starlette's error middleware does. The request id wraps both paths (app.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from threadline.api.routing import DirectRoute

Handler = Callable[[Request], Awaitable[Response]]
ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


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
                await direct(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @property
    def paths(self) -> list[str]:
        return sorted(self._routes)


class _DirectHandler:
    def __init__(
        self, handler: Handler, exception_handlers: Mapping[Any, Callable[..., Any]]
    ) -> None:
        self._handler = handler
        self._exception_handlers = exception_handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self._handler(request)
        except Exception as exc:
            handle = self._handler_for(exc)
            if handle is None:
                raise
            response = await handle(request, exc)
            await response(scope, receive, send)
            if not self._handles_expected(exc):
                raise  # an unexpected error: the server logs it too, as Starlette's does
            return
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> ExceptionHandler | None:
        for kind in type(exc).__mro__:
            if kind in self._exception_handlers:
                handler: ExceptionHandler = self._exception_handlers[kind]
                return handler
        return None

    def _handles_expected(self, exc: Exception) -> bool:
        """Whether a handler more precise than the catch-all `Exception` one answers `exc`."""
        return any(
            kind in self._exception_handlers
            for kind in type(exc).__mro__
            if kind not in (Exception, BaseException, object)
        )


def _route_path(scope: Scope) -> str:
    """The path the router would match: the path under the app's root path."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path
