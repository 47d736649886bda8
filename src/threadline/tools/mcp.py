"""Remote MCP servers through the official `mcp` SDK: Streamable HTTP, or SSE for older servers
(a URL whose path ends in `/sse`).

Each operation (list the tools, call one) opens its own connection and closes it before it
returns. A turn calls a server a few times at most, a loopback or LAN handshake costs
milliseconds, and no connection then outlives the task that opened it (the SDK's transports
hold anyio task groups, which must be left by the task that entered them).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx2
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from threadline.tools.base import McpResult, McpServer, McpToolInfo, ToolFailure
from threadline.tools.outbound import OutboundPolicy

log = logging.getLogger("threadline")

_MAX_LIST_PAGES = 20
_INTERNAL_ERROR = -32603  # JSON-RPC's code for an error without a better one
_REQUEST_TIMEOUT = -32001  # the SDK's code when its read timeout expires

T = TypeVar("T")


class SdkMcpClient:
    def __init__(
        self, policy: OutboundPolicy, *, connect_timeout: float, call_timeout: float
    ) -> None:
        self._policy = policy
        self._connect_timeout = connect_timeout
        self._call_timeout = call_timeout

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
            async with asyncio.timeout(budget), self._connect(server) as client:
                return await operation(client)
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
        if urlsplit(server.url).path.rstrip("/").endswith("/sse"):
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
