"""Remote MCP servers through the official `mcp` SDK: Streamable HTTP, or SSE for older servers
(a URL whose path ends in `/sse`).

Streamable HTTP sessions are kept open between operations (`mcp_sessions.py`), per server,
tenant and credentials; SSE servers (the older transport, which holds a stream open per
session) get a connection per operation. A kept session that fails on a connection-level
error (the server restarted or expired it) is dropped and the operation runs once more on a
new session; an error after the request may have reached the server is never retried, since a
tool call can have effects.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio
import httpx2
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from threadline.tools.base import McpResult, McpServer, McpToolInfo, ToolFailure
from threadline.tools.mcp_sessions import McpSessionPool
from threadline.tools.outbound import OutboundPolicy

log = logging.getLogger("threadline")

_MAX_LIST_PAGES = 20
_INTERNAL_ERROR = -32603  # JSON-RPC's code for an error without a better one
_REQUEST_TIMEOUT = -32001  # the SDK's code when its read timeout expires

T = TypeVar("T")


class SdkMcpClient:
    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        connect_timeout: float,
        call_timeout: float,
        max_sessions: int = 64,
        session_idle_seconds: float = 60.0,
    ) -> None:
        self._policy = policy
        self._connect_timeout = connect_timeout
        self._call_timeout = call_timeout
        self._sessions = McpSessionPool(
            self._connect, max_sessions=max_sessions, idle_seconds=session_idle_seconds
        )

    @property
    def open_sessions(self) -> int:
        return self._sessions.open_sessions

    async def aclose(self) -> None:
        await self._sessions.aclose()

    async def list_tools(self, server: McpServer) -> list[McpToolInfo]:
        async def listing(client: Client) -> list[McpToolInfo]:
            tools: list[McpToolInfo] = []
            cursor: str | None = None
            for _ in range(_MAX_LIST_PAGES):
                page = await client.list_tools(cursor=cursor)
                tools += [
                    McpToolInfo(
                        name=tool.name,
                        input_schema=dict(tool.input_schema),
                        description=tool.description,
                        annotations=tool.annotations.model_dump(exclude_none=True, by_alias=True)
                        if tool.annotations is not None
                        else None,
                    )
                    for tool in page.tools
                ]
                cursor = page.next_cursor
                if cursor is None:
                    break
            return tools

        return await self._run(server, listing)

    async def call_tool(self, server: McpServer, name: str, arguments: dict[str, Any]) -> McpResult:
        async def calling(client: Client) -> McpResult:
            result = await client.call_tool(name, arguments)
            blocks = [
                block.model_dump(exclude_none=True, by_alias=True) for block in result.content
            ]
            texts = [str(block["text"]) for block in blocks if block.get("type") == "text"]
            if texts:
                output = "\n".join(texts)
            elif result.structured_content is not None:
                output = json.dumps(result.structured_content)
            else:
                output = json.dumps(blocks)
            return McpResult(output=output, is_error=result.is_error, content=blocks)

        return await self._run(server, calling)

    async def _run(self, server: McpServer, operation: Callable[[Client], Awaitable[T]]) -> T:
        await self._policy.check(server.url)
        budget = self._connect_timeout + self._call_timeout
        try:
            async with asyncio.timeout(budget):
                if _is_sse(server.url):
                    async with self._connect(server) as client:
                        return await operation(client)
                reused = False
                try:
                    async with self._sessions.lease(server, server.tenant) as lease:
                        reused = lease.reused
                        return await operation(lease.client)
                except Exception as exc:
                    if not (reused and _stale(exc)):
                        raise
                async with self._sessions.lease(server, server.tenant) as lease:
                    return await operation(lease.client)
        except TimeoutError as exc:
            raise ToolFailure(
                f"MCP server '{server.label}' timed out (no answer within {budget:g} s).", code=504
            ) from exc
        except Exception as exc:
            raise _failure(server, exc) from exc

    @asynccontextmanager
    async def _connect(self, server: McpServer) -> AsyncIterator[Client]:
        headers = dict(server.headers)
        timeout = httpx2.Timeout(self._call_timeout, connect=self._connect_timeout)
        if _is_sse(server.url):
            transport = sse_client(
                server.url,
                headers=headers,
                timeout=self._connect_timeout,
                sse_read_timeout=self._call_timeout,
            )
            async with Client(transport, read_timeout_seconds=self._call_timeout) as client:
                yield client
            return
        async with (
            httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
            Client(
                streamable_http_client(server.url, http_client=http),
                read_timeout_seconds=self._call_timeout,
            ) as client,
        ):
            yield client


def _is_sse(url: str) -> bool:
    return urlsplit(url).path.rstrip("/").endswith("/sse")


def _stale(exc: BaseException) -> bool:
    """Whether a kept session failed before the server took the request: its connection was
    refused or closed, or the server no longer knows the session (HTTP 404, as the MCP spec
    says a server answers a session it ended)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, httpx2.ConnectError | anyio.ClosedResourceError | anyio.BrokenResourceError):
        return True
    return isinstance(exc, httpx2.HTTPStatusError) and exc.response.status_code == 404


def _failure(server: McpServer, exc: BaseException) -> ToolFailure:
    """The OpenAI-shaped failure for whatever the SDK raised (task groups wrap errors)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    where = f"MCP server '{server.label}'"
    if isinstance(exc, ToolFailure):
        return exc
    if isinstance(exc, TimeoutError | httpx2.TimeoutException) or (
        isinstance(exc, MCPError) and exc.code == _REQUEST_TIMEOUT
    ):
        return ToolFailure(f"{where} timed out.", code=504)
    if isinstance(exc, httpx2.HTTPStatusError):
        status = exc.response.status_code
        return ToolFailure(f"{where} answered HTTP {status}.", code=status)
    if isinstance(exc, httpx2.HTTPError | OSError):
        # The error's text can name the address the host resolved to: the log keeps it.
        log.warning("%s could not be reached: %s: %s", where, type(exc).__name__, exc)
        return ToolFailure(f"{where} could not be reached ({type(exc).__name__}).", code=502)
    if isinstance(exc, MCPError):
        return ToolFailure(f"{where}: {exc.message}", kind="mcp_protocol_error", code=exc.code)
    return ToolFailure(
        f"{where} failed: {type(exc).__name__}: {exc}",
        kind="mcp_protocol_error",
        code=_INTERNAL_ERROR,
    )
