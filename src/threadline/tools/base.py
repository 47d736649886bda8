"""The server-side tool port: what the engine drives when the model calls a tool that Threadline
runs itself (remote MCP servers, web search), and the fetcher for files given by URL.

Adapters own their wire formats (the MCP protocol, a search API's JSON) and the outbound guard
(`tools/outbound.py`); the engine only sees these types. Every failure of a tool is raised as
`ToolFailure`, whose `error` is the object an `mcp_call` item carries, so that the engine can
record it and tell the model instead of failing the response.

    ToolFailure                the tool could not run (connection, HTTP status, protocol, timeout)
    ├── OutboundRefused        the address is not allowed (loopback/private, unless configured)
    └── FileTooLarge           a file fetched by URL is over its size limit
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

ErrorKind = Literal["http_error", "mcp_protocol_error"]


class ToolFailure(Exception):
    def __init__(self, message: str, *, kind: ErrorKind = "http_error", code: int = 502) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.code = code

    @property
    def error(self) -> dict[str, Any]:
        """OpenAI's `mcp_call.error` object for this failure."""
        return {"type": self.kind, "code": self.code, "message": self.message}


class OutboundRefused(ToolFailure):
    """The URL points at an address Threadline may not reach (see `tools/outbound.py`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="http_error", code=403)


class FileTooLarge(ToolFailure):
    """A file fetched by URL went over the bytes it was allowed (refused as they arrived)."""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message, kind="http_error", code=413)
        self.limit = limit


# -- MCP --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class McpServer:
    """Where an MCP server is and how to reach it; built from a request's `mcp` tool."""

    label: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    """Sent with every request (the tool's `headers`, and `authorization` as a Bearer token)."""
    tenant: str = ""
    """Whose request this is: sessions kept open are never shared across tenants."""


@dataclass(frozen=True, slots=True)
class McpToolInfo:
    name: str
    input_schema: dict[str, Any]
    description: str | None = None
    annotations: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class McpResult:
    output: str
    """What the tool returned, as text (what the `mcp_call` item and the model see)."""
    is_error: bool = False
    """The tool ran and reported an error (MCP `isError`)."""
    content: list[dict[str, Any]] = field(default_factory=list)
    """The raw MCP content blocks."""


class McpClient(Protocol):
    async def list_tools(self, server: McpServer) -> list[McpToolInfo]:
        """Every tool the server offers. Raises `ToolFailure`."""
        ...

    async def call_tool(self, server: McpServer, name: str, arguments: dict[str, Any]) -> McpResult:
        """Run one tool. A tool that reports an error returns `is_error`; a server that cannot
        be reached or answers badly raises `ToolFailure`."""
        ...

    async def aclose(self) -> None:
        """Close the sessions kept open."""
        ...


# -- web search -------------------------------------------------------------------------------
ContextSize = Literal["low", "medium", "high"]


@dataclass(frozen=True, slots=True)
class SearchQuery:
    query: str
    max_results: int
    allowed_domains: Sequence[str] = ()
    """Only results from these domains (or their subdomains); empty: any."""
    country: str | None = None
    """ISO 3166-1 alpha-2 code from the tool's `user_location`, for backends that take one."""
    context_size: ContextSize = "medium"


@dataclass(frozen=True, slots=True)
class SearchResult:
    url: str
    title: str
    snippet: str


class WebSearchBackend(Protocol):
    name: str

    async def search(self, query: SearchQuery) -> list[SearchResult]:
        """Results, best first. Raises `ToolFailure`."""
        ...

    async def aclose(self) -> None: ...


# -- files by URL -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FetchedFile:
    data: bytes
    media_type: str
    filename: str


class UrlFetcher(Protocol):
    async def fetch(self, url: str, *, tenant: str, max_bytes: int | None = None) -> FetchedFile:
        """The document at `url`, within the size and time limits (and `max_bytes`, when
        tighter): raises `FileTooLarge` as soon as more arrived, `ToolFailure` for any other
        failure. A copy fetched before for `tenant` is reused while the server says it is
        unchanged."""
        ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class ServerTools:
    """The server-side tools one Threadline process offers, built from its settings."""

    mcp: McpClient
    fetcher: UrlFetcher
    web_search: WebSearchBackend | None = None
    web_search_hint: str = ""
    """How to configure a web search backend (the 400 says it when none is)."""
    max_iterations: int = 8
    """Model calls one response may make while it runs server-side tools."""

    async def aclose(self) -> None:
        await self.mcp.aclose()
        await self.fetcher.aclose()
        if self.web_search is not None:
            await self.web_search.aclose()


@dataclass(frozen=True, slots=True)
class WebhookAttempt:
    """How one POST of a webhook event went."""

    status_code: int | None
    error: str | None
    """Why it failed, in a few words of ours (never the receiver's body)."""

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender(Protocol):
    """Signs an event with the endpoint's secret and POSTs it (tools/webhooks.py)."""

    async def send(self, url: str, secret: str, message_id: str, body: str) -> WebhookAttempt: ...

    async def refusal(self, url: str) -> str | None:
        """Why the outbound guard would refuse `url` now; None if it would not."""
        ...

    async def aclose(self) -> None: ...
