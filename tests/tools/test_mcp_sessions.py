"""MCP sessions kept open between listings and calls: reused within a turn and across turns,
never shared across tenants or credentials, bounded in number and idle time, and dropped when
they fail. Against the real MCP test server."""

from __future__ import annotations

import asyncio

import openai

from tests.conftest import MODEL
from tests.tools.conftest import mcp_tool
from tests.tools.mcp_server import McpTestServer
from threadline.tools.base import McpServer, ToolFailure
from threadline.tools.mcp import SdkMcpClient
from threadline.tools.outbound import OutboundPolicy

ROLL = 'call mcp__dice__roll {"expr": "2d4+1"}'


def _client(**limits: float) -> SdkMcpClient:
    return SdkMcpClient(
        OutboundPolicy(allow_private=True, allowed_hosts=[]),
        connect_timeout=5,
        call_timeout=float(limits.pop("call_timeout", 5)),
        **limits,  # type: ignore[arg-type]
    )


def _sessions_opened(server: McpTestServer) -> int:
    """Each new session starts with the SDK's discovery request."""
    return server.count("server/discover") + server.count("initialize")


def test_turns_reuse_one_mcp_session_for_listing_and_calls(
    tools_client: openai.OpenAI, mcp_server: McpTestServer
) -> None:
    tools = [mcp_tool(mcp_server.url, require_approval="never", headers={"X-Reuse": "turns"})]
    opened = _sessions_opened(mcp_server)
    calls = mcp_server.count("tools/call")

    first = tools_client.responses.create(model=MODEL, input=ROLL, tools=tools)
    second = tools_client.responses.create(model=MODEL, input=ROLL, tools=tools)

    assert first.status == second.status == "completed"
    assert mcp_server.count("tools/call") == calls + 2
    # Two listings and two calls, one session (a connection per operation would open four).
    assert _sessions_opened(mcp_server) == opened + 1


async def test_sessions_are_not_shared_across_tenants_or_credentials(
    mcp_server: McpTestServer,
) -> None:
    client = _client()
    opened = _sessions_opened(mcp_server)
    try:
        for tenant, token in [("t1", "a"), ("t1", "a"), ("t2", "a"), ("t1", "b")]:
            server = McpServer("dice", mcp_server.url, {"Authorization": token}, tenant=tenant)
            result = await client.call_tool(server, "roll", {"expr": "1d4"})
            assert result.output == "rolled 1d4: 4"
        assert _sessions_opened(mcp_server) == opened + 3
        assert client.open_sessions == 3
    finally:
        await client.aclose()
    assert client.open_sessions == 0


async def test_an_idle_session_is_closed(mcp_server: McpTestServer) -> None:
    client = _client(session_idle_seconds=0.2)
    try:
        await client.list_tools(McpServer("dice", mcp_server.url, tenant="idle"))
        assert client.open_sessions == 1
        for _ in range(40):
            if client.open_sessions == 0:
                break
            await asyncio.sleep(0.05)
        assert client.open_sessions == 0
    finally:
        await client.aclose()


async def test_sessions_beyond_the_limit_get_a_connection_of_their_own(
    mcp_server: McpTestServer,
) -> None:
    client = _client(max_sessions=1)
    try:
        slow = McpServer("dice", mcp_server.url, tenant="busy")
        other = McpServer("dice", mcp_server.url, tenant="other")
        busy = asyncio.create_task(client.call_tool(slow, "slow", {"seconds": 0.5}))
        await asyncio.sleep(0.2)  # the one kept session is now busy
        result = await client.call_tool(other, "roll", {"expr": "1d6"})
        assert result.output == "rolled 1d6: 6"
        assert client.open_sessions == 1
        assert (await busy).output == "finally"
    finally:
        await client.aclose()


async def test_a_session_that_fails_is_dropped_and_the_next_call_opens_a_new_one(
    mcp_server: McpTestServer,
) -> None:
    client = _client(call_timeout=0.3)
    server = McpServer("dice", mcp_server.url, tenant="timeouts")
    try:
        await client.list_tools(server)
        opened = _sessions_opened(mcp_server)
        try:
            await client.call_tool(server, "slow", {"seconds": 3})
        except ToolFailure as failure:
            assert failure.code == 504
        else:
            raise AssertionError("the slow call should have timed out")
        assert client.open_sessions == 0
        result = await client.call_tool(server, "roll", {"expr": "1d8"})
        assert result.output == "rolled 1d8: 8"
        assert _sessions_opened(mcp_server) == opened + 1
    finally:
        await client.aclose()


async def test_a_kept_session_survives_a_server_restart() -> None:
    client = _client()
    first = McpTestServer().__enter__()
    try:
        await client.call_tool(McpServer("dice", first.url, tenant="r"), "roll", {"expr": "1d2"})
        port, sse_port = first.port, first.sse_port
        first.__exit__(None, None, None)
        with McpTestServer(port, sse_port) as restarted:
            result = await client.call_tool(
                McpServer("dice", restarted.url, tenant="r"), "roll", {"expr": "1d2"}
            )
            assert result.output == "rolled 1d2: 2"
    finally:
        await client.aclose()
