"""The provider goes through the proxy that HTTP_PROXY / HTTPS_PROXY name, unless NO_PROXY
exempts its host, as httpx-based clients (the openai SDK among them) do."""

from __future__ import annotations

import asyncio

import pytest

from tests.providers.raw_upstream import ANSWER_TEXT, answer, answer_text, read_request
from threadline.errors import UpstreamError
from threadline.providers.openai_chat import OpenAIChatProvider
from threadline.providers.retry import RetryPolicy

# A host that cannot resolve: a request only succeeds if the proxy carries it.
UPSTREAM = "http://upstream.invalid/v1"


class RecordingProxy:
    """A forward proxy that answers every request itself and records its request line."""

    def __init__(self) -> None:
        self.request_lines: list[str] = []
        self.port = 0

    async def __aenter__(self) -> RecordingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await read_request(reader)
        if line is not None:
            self.request_lines.append(line)
            await answer(writer, keep_alive=False)
        writer.close()


async def _answer(provider: OpenAIChatProvider) -> str:
    try:
        return await answer_text(provider)
    finally:
        await provider.aclose()


async def test_requests_go_through_the_proxy_named_by_http_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with RecordingProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert await _answer(OpenAIChatProvider("p", UPSTREAM)) == ANSWER_TEXT
    assert proxy.request_lines == ["POST http://upstream.invalid/v1/chat/completions HTTP/1.1"]


async def test_no_proxy_exempts_the_provider_host(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with RecordingProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("NO_PROXY", "upstream.invalid")
        provider = OpenAIChatProvider("p", UPSTREAM, retry=RetryPolicy(max_retries=0))
        with pytest.raises(UpstreamError, match="Provider 'p' could not be reached"):
            await _answer(provider)
    assert proxy.request_lines == []
    # Tried directly: the host's own name failed to resolve (the log has it, the caller not).
    assert "Cannot connect to host upstream.invalid" in caplog.text
