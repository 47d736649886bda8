"""The outbound guard: API callers cannot make the server reach loopback, private or link-local
addresses (MCP server_url, file_url) unless the operator allows it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer
from tests.tools.conftest import mcp_tool
from tests.tools.fake_search import FakeSearch
from tests.tools.mcp_server import McpTestServer
from threadline.tools.base import OutboundRefused
from threadline.tools.outbound import OutboundPolicy


@pytest.fixture(scope="module")
def guarded(
    fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[openai.OpenAI]:
    """A server with the default outbound settings."""
    directory: Path = tmp_path_factory.mktemp("guarded")
    with LiveServer(
        str(directory / "t.db"),
        fake.base_url,
        env={"THREADLINE_DATA_DIR": str(directory / "data")},
        log_path=directory / "log",
    ) as live:
        yield openai.OpenAI(base_url=live.base_url, api_key="k", max_retries=0)


def test_mcp_server_on_loopback_is_refused_by_default(
    guarded: openai.OpenAI, mcp_server: McpTestServer
) -> None:
    requests = mcp_server.rpc_count()
    response = guarded.responses.create(
        model=MODEL, input="hi", tools=[mcp_tool(mcp_server.url, require_approval="never")]
    )
    listed = response.output[0]
    assert listed.type == "mcp_list_tools" and listed.error
    assert "THREADLINE_OUTBOUND_ALLOW_PRIVATE" in listed.error
    assert mcp_server.rpc_count() == requests


def test_file_url_on_loopback_is_refused_by_default(
    guarded: openai.OpenAI, search: FakeSearch
) -> None:
    search.documents["secret.txt"] = (b"internal only", "text/plain")
    with pytest.raises(openai.BadRequestError) as raised:
        guarded.responses.create(
            model=MODEL,
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_file", "file_url": f"{search.url}/files/secret.txt"}
                    ],
                }
            ],
        )
    assert "loopback, private or reserved" in raised.value.message


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8080/mcp",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::7f00:1]/",  # IPv4-compatible 127.0.0.1
        "http://[::a9fe:a9fe]/",  # IPv4-compatible 169.254.169.254
        "http://[64:ff9b::7f00:1]/",  # NAT64 127.0.0.1
        "http://[64:ff9b::a00:1]/",  # NAT64 10.0.0.1
        "http://[64:ff9b:1::a00:1]/",  # NAT64 local-use prefix
        "http://[2002:7f00:1::1]/",  # 6to4 127.0.0.1
        "http://[2002:c0a8:1::1]/",  # 6to4 192.168.0.1
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",  # Teredo, client 127.0.0.1
        "http://0.0.0.0/",
        "file:///etc/passwd",
        "gopher://example.com/",
    ],
)
async def test_policy_refuses_what_only_the_server_can_reach(url: str) -> None:
    with pytest.raises(OutboundRefused):
        await OutboundPolicy().check(url)


async def test_policy_lets_public_addresses_and_allowed_hosts_through() -> None:
    await OutboundPolicy().check("https://93.184.215.14/page")
    await OutboundPolicy().check("https://[64:ff9b::5db8:d70e]/page")  # NAT64 93.184.215.14
    await OutboundPolicy().check("https://[2002:5db8:d70e::1]/page")  # 6to4 93.184.215.14
    await OutboundPolicy(allowed_hosts=["127.0.0.1", "mcp.internal"]).check("http://127.0.0.1:9/")
    await OutboundPolicy(allow_private=True).check("http://10.0.0.1/")


async def test_a_refusal_keeps_what_the_host_resolves_to_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(OutboundRefused) as raised:
        await OutboundPolicy().check("http://localhost:8080/mcp")
    assert "'localhost'" in str(raised.value)
    assert "127.0.0.1" not in str(raised.value) and "::1" not in str(raised.value)
    assert any("localhost resolves to" in record.getMessage() for record in caplog.records)
