"""A real MCP server written with the `mcp` SDK, for the tests: a dice roller, a tool that fails,
a slow tool. Served over Streamable HTTP (`.url`, path /mcp) and SSE (`.sse_url`, path /sse);
every HTTP request it receives is recorded (`.requests`: path, headers, JSON-RPC method)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from types import TracebackType
from typing import Any

from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.tools.background import BackgroundServer


def dice_server() -> MCPServer:
    server = MCPServer("dice")

    @server.tool()
    def roll(expr: str) -> str:
        """Roll dice written like 2d4+1. These dice always land on their highest face."""
        match = re.fullmatch(r"(\d+)d(\d+)([+-]\d+)?", expr.replace(" ", ""))
        if match is None:
            raise ValueError(f"cannot read the dice expression {expr!r}")
        count, faces, bonus = int(match[1]), int(match[2]), int(match[3] or 0)
        return f"rolled {expr}: {count * faces + bonus}"

    @server.tool()
    def explode() -> str:
        """A tool that always fails."""
        raise RuntimeError("the dice exploded")

    @server.tool()
    async def slow(seconds: float) -> str:
        """Answers after `seconds`."""
        await asyncio.sleep(seconds)
        return "finally"

    return server


class _Recorder:
    def __init__(self, app: ASGIApp, log: list[dict[str, Any]], lock: threading.Lock) -> None:
        self.app, self.log, self.lock = app, log, lock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        body = bytearray()

        async def recording() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
                if not message.get("more_body"):
                    self._record(scope["path"], headers, bytes(body))
            return message

        await self.app(scope, recording, send)

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        try:
            method = json.loads(body).get("method") if body else None
        except (ValueError, AttributeError):
            method = None
        with self.lock:
            self.log.append({"path": path, "headers": headers, "method": method})


class McpTestServer:
    def __init__(self, port: int = 0, sse_port: int = 0) -> None:
        """`port`: that of a server stopped before, to stand for it restarted (it knows none
        of the sessions the old one gave out)."""
        self._lock = threading.Lock()
        self._log: list[dict[str, Any]] = []
        self._http = BackgroundServer(
            _Recorder(dice_server().streamable_http_app(), self._log, self._lock), port
        )
        self._sse = BackgroundServer(
            _Recorder(dice_server().sse_app(), self._log, self._lock), sse_port
        )
        self.port, self.sse_port = self._http.port, self._sse.port
        self.url = f"{self._http.url}/mcp"
        self.sse_url = f"{self._sse.url}/sse"

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._log)

    def count(self, method: str) -> int:
        return sum(1 for r in self.requests if r["method"] == method)

    def rpc_count(self) -> int:
        """JSON-RPC requests received (not the GETs and DELETEs that open and end sessions,
        which Threadline sends on its own schedule)."""
        return sum(1 for r in self.requests if r["method"] is not None)

    def __enter__(self) -> McpTestServer:
        self._http.start()
        self._sse.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._http.stop()
        self._sse.stop()
