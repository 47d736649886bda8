"""A kept-alive upstream connection that the upstream closes (FIN) or resets (RST) as the next
request arrives (its keep-alive timeout ran out) costs a new connection, not a failed turn; a
connection closed or reset after the upstream began to answer is a failure, not resent."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from tests.providers.raw_upstream import ANSWER_TEXT, answer, answer_text, read_request
from threadline.errors import UpstreamError
from threadline.providers.openai_chat import OpenAIChatProvider
from threadline.providers.retry import RetryPolicy


class ClosingUpstream:
    """Answers the first request of each connection and keeps it alive; closes it, without
    an answer, when a second request arrives on it."""

    def __init__(self, *, reset: bool = False) -> None:
        self.connections = 0
        self.dropped = 0
        self._reset = reset

    async def __aenter__(self) -> ClosingUpstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1"
        return self

    async def __aexit__(self, *_: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if await read_request(reader) is not None:
            await answer(writer, keep_alive=True)
            if await read_request(reader) is not None:
                self.dropped += 1
                if self._reset:
                    _reset_on_close(writer)
        writer.close()


def _reset_on_close(writer: asyncio.StreamWriter) -> None:
    """Make closing the connection send a RST instead of a FIN (SO_LINGER with a zero wait)."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_a_pooled_connection_closed_or_reset_by_the_upstream_is_replaced(
    reset: bool,
) -> None:
    async with ClosingUpstream(reset=reset) as upstream:
        provider = OpenAIChatProvider("p", upstream.url, retry=RetryPolicy(backoff=30.0))
        try:
            for _ in range(3):
                assert await answer_text(provider) == ANSWER_TEXT
        finally:
            await provider.aclose()
    # Turns 2 and 3 each found their pooled connection closed and went on a new one, at once
    # (a backoff of 30 s would have timed the test out).
    assert upstream.dropped == 2
    assert upstream.connections == 3


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_a_connection_closed_or_reset_mid_answer_is_not_resent(reset: bool) -> None:
    requests = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        if await read_request(reader) is not None:
            requests += 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
            writer.write(b"Content-Length: 500\r\n\r\n{")
            await writer.drain()
            if reset:
                await asyncio.sleep(0.05)  # the headers and a first byte reach the client first
                _reset_on_close(writer)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    provider = OpenAIChatProvider("p", url)
    try:
        with pytest.raises(UpstreamError):
            await answer_text(provider)
    finally:
        await provider.aclose()
        server.close()
        await server.wait_closed()
    assert requests == 1
