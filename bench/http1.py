"""A minimal HTTP/1.1 client on asyncio streams, for measuring rather than for features.

The benchmarks time the arrival of individual server-sent events and keep hundreds of streams
open from one process that shares a core with the fake upstream, so the client must cost
as little as possible and hide nothing: every de-chunked piece of body is handed to the caller
with the moment it arrived. It speaks just enough HTTP/1.1 for Threadline and the fake
upstream: keep-alive, `Content-Length` and chunked bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

BodySink = Callable[[bytes, float], None]
"""Called with each piece of the response body and `time.perf_counter()` at its arrival."""


class ProtocolError(Exception):
    pass


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    """The whole body, unless a sink consumed it (then empty)."""


class HttpConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self._reader = reader
        self._writer = writer
        self._host = host
        self.closed = False

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(reader, writer, f"{host}:{port}")

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        sink: BodySink | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self._host}\r\nAccept: */*\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self._writer.write(head.encode() + b"\r\n" + (body or b""))
        status, headers = await self._read_head()
        collected: list[bytes] = []

        def deliver(piece: bytes) -> None:
            if sink is None:
                collected.append(piece)
            else:
                sink(piece, time.perf_counter())

        if headers.get("transfer-encoding", "").lower() == "chunked":
            await self._read_chunked(deliver)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if length:
                deliver(await self._reader.readexactly(length))
        else:
            while piece := await self._reader.read(65536):
                deliver(piece)
            self.closed = True
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Reply(status, b"".join(collected))

    async def _read_head(self) -> tuple[int, dict[str, str]]:
        raw = await self._reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        match = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        if match is None:
            raise ProtocolError(f"not an HTTP/1.1 status line: {lines[0]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return int(match.group(1)), headers

    async def _read_chunked(self, deliver: Callable[[bytes], None]) -> None:
        while True:
            size_line = await self._reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while await self._reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailer fields, none expected
                return
            data = await self._reader.readexactly(size + 2)
            deliver(data[:-2])


class MarkerClock:
    """Records when each occurrence of a fixed-width byte pattern completed in a stream.

    Fed the body pieces in order; a marker split across two pieces counts at the arrival of
    the piece that completes it, which is when a real client could have acted on it.
    """

    def __init__(self, pattern: re.Pattern[bytes], width: int) -> None:
        self._pattern = pattern
        self._width = width
        self._buffer = bytearray()
        self._scanned_to = 0
        self.times: list[float] = []

    def feed(self, piece: bytes, now: float) -> None:
        start = max(self._scanned_to, len(self._buffer) - self._width + 1, 0)
        self._buffer += piece
        for match in self._pattern.finditer(self._buffer, start):
            self.times.append(now)
            self._scanned_to = match.end()

    @property
    def body(self) -> bytes:
        return bytes(self._buffer)


THREADLINE_DELTA = re.compile(rb"event: response\.output_text\.delta\n")
THREADLINE_DELTA_WIDTH = len(b"event: response.output_text.delta\n")
UPSTREAM_CONTENT = re.compile(rb'"delta":\{"content":"[^"]')
"""A Chat Completions chunk carrying non-empty content (the role chunk has `"role"` first)."""
UPSTREAM_CONTENT_WIDTH = len(b'"delta":{"content":"x')
