"""Fixtures for server-side tools and files: a real MCP server, a fake search server, and a
Threadline server configured to use them (loopback addresses allowed, SearXNG backend)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer
from tests.spec_transport import checked_http_client
from tests.tools.fake_search import FakeSearch
from tests.tools.mcp_server import McpTestServer

MAX_FILE_BYTES = 200_000
MCP_CALL_TIMEOUT = 2


@pytest.fixture(scope="session")
def mcp_server() -> Iterator[McpTestServer]:
    with McpTestServer() as server:
        yield server


@pytest.fixture(scope="session")
def search() -> Iterator[FakeSearch]:
    with FakeSearch() as server:
        yield server


@pytest.fixture(scope="session")
def tools_server(
    fake: FakeUpstream, search: FakeSearch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("tools")
    env = {
        "THREADLINE_OUTBOUND_ALLOW_PRIVATE": "true",
        "THREADLINE_WEB_SEARCH_BACKEND": "searxng",
        "THREADLINE_WEB_SEARCH_URL": search.url,
        "THREADLINE_DATA_DIR": str(directory / "data"),
        "THREADLINE_MCP_CALL_TIMEOUT": str(MCP_CALL_TIMEOUT),
        "THREADLINE_MAX_FILE_BYTES": str(MAX_FILE_BYTES),
    }
    with LiveServer(
        str(directory / "threadline.db"), fake.base_url, env=env, log_path=directory / "log"
    ) as live:
        yield live


@pytest.fixture
def tools_client(tools_server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=tools_server.base_url,
        api_key="any-key",
        max_retries=0,
        http_client=checked_http_client(),
    )


@pytest.fixture
def tools_http(tools_server: LiveServer) -> Iterator[httpx.Client]:
    with checked_http_client(base_url=tools_server.url, timeout=30) as raw:
        yield raw


def mcp_tool(url: str, **fields: Any) -> dict[str, Any]:
    return {"type": "mcp", "server_label": "dice", "server_url": url, **fields}
