"""Every answer carries an `x-request-id`, and every log line written for it names the same id.

The id is the caller's own (`X-Request-Id` from a proxy, or the SDKs' `X-Client-Request-Id`)
when it is short and plain, else a new `req_…`. It lives in a context variable for the whole
request, so uvicorn's access line and any line the app logs while serving it can print it
(`RequestIdFilter`, installed by `with_request_ids` on the logging configuration).
"""

from __future__ import annotations

import copy
import logging
import re
import secrets
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadline.api.log_redaction import ContentFreeTracebacks

_current: ContextVar[str | None] = ContextVar("threadline_request_id", default=None)
_CLIENT_HEADERS = (b"x-request-id", b"x-client-request-id")
_PLAIN = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_HEADER_STARTS = ("http.response.start", "websocket.http.response.start")


def current_request_id() -> str | None:
    return _current.get()


class RequestIds:
    """Wraps the whole ASGI stack (Starlette's own error handler included), so even a 500
    carries the id, and the line logging its traceback too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _from_caller(scope["headers"]) or f"req_{secrets.token_hex(16)}"
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] in _HEADER_STARTS:
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = _current.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _current.reset(token)


def _from_caller(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name in _CLIENT_HEADERS and _PLAIN.fullmatch(value):
            return value.decode()
    return None


class RequestIdFilter(logging.Filter):
    """Gives each record `request_id` (the id, or '-' outside a request) and `request_tag`
    (' request_id=…', or nothing outside a request) for formats to print."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = _current.get()
        record.request_id = request_id or "-"
        record.request_tag = f" request_id={request_id}" if request_id else ""
        return True


def with_request_ids(config: dict[str, Any], level: str) -> dict[str, Any]:
    """A copy of a `logging.config.dictConfig` configuration (uvicorn's) whose every line ends
    with the request id, whose tracebacks carry no exception messages (log_redaction.py),
    and which also writes the app's own `threadline` logger."""
    config = copy.deepcopy(config)
    filters = config.setdefault("filters", {})
    filters["request_id"] = {"()": f"{__name__}.RequestIdFilter"}
    filters["content_free_tracebacks"] = {"()": ContentFreeTracebacks}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).extend(["request_id", "content_free_tracebacks"])
    for formatter in config["formatters"].values():
        formatter["fmt"] = formatter["fmt"] + "%(request_tag)s"
    config["loggers"]["threadline"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config
