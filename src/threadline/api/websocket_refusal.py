"""Refuse WebSocket connections with an HTTP error in OpenAI's envelope.

OpenAI serves a WebSocket mode on /v1/responses; Threadline speaks HTTP and SSE only. The
handshake is answered with an HTTP response through the ASGI "websocket.http.response"
extension (every uvicorn WebSocket implementation offers it), so a client reads why,
instead of a bare 403 with an empty body.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from threadline.errors import ThreadlineError, UnknownUrl, UnsupportedEndpoint

_WEBSOCKET_MODE = "/v1/responses"


class RefuseWebSockets:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        await receive()  # websocket.connect
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": 1008})
            return
        error = _refusal(scope["path"])
        body = orjson.dumps({"error": error.to_error_object()})
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send(
            {
                "type": "websocket.http.response.start",
                "status": error.status_code,
                "headers": headers,
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})


def _refusal(path: str) -> ThreadlineError:
    if path.rstrip("/") == _WEBSOCKET_MODE:
        return UnsupportedEndpoint(
            "WebSocket mode is not supported yet: POST /v1/responses with 'stream': true "
            "sends the same events as server-sent events."
        )
    return UnknownUrl("WEBSOCKET", path)
