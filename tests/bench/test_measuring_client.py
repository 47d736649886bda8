"""The bench's HTTP client reports when each event arrived, without buffering or losing any."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from bench.http1 import (
    THREADLINE_DELTA,
    THREADLINE_DELTA_WIDTH,
    HttpConnection,
    MarkerClock,
)
from bench.results import percentile

DELTA = b"event: response.output_text.delta\ndata: {}\n\n"


def test_a_marker_split_across_pieces_counts_once_when_it_completes() -> None:
    clock = MarkerClock(THREADLINE_DELTA, THREADLINE_DELTA_WIDTH)
    clock.feed(DELTA[:10], 1.0)
    clock.feed(DELTA[10:] + DELTA, 2.0)
    clock.feed(b"event: response.completed\n\n", 3.0)
    assert clock.times == [2.0, 2.0]


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0


async def _chunked_server(pieces: list[bytes]) -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):  # two requests on one keep-alive connection
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in pieces:
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
                await asyncio.sleep(0.01)
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def chunked_port() -> AsyncIterator[int]:
    async for port in _chunked_server([DELTA[:5], DELTA[5:], DELTA]):
        yield port


async def test_chunked_bodies_are_delivered_piece_by_piece_on_a_kept_alive_connection(
    chunked_port: int,
) -> None:
    connection = await HttpConnection.open("127.0.0.1", chunked_port)
    try:
        for _ in range(2):
            clock = MarkerClock(THREADLINE_DELTA, THREADLINE_DELTA_WIDTH)
            reply = await connection.request("POST", "/v1/responses", b"{}", clock.feed)
            assert reply.status == 200
            assert clock.body == DELTA * 2
            assert len(clock.times) == 2
            assert clock.times[1] > clock.times[0]  # the second event came in a later chunk
    finally:
        await connection.close()
