"""The HTTP/1.1 connections of `threadline serve`: uvicorn's httptools protocol, bounded in what a
client can make the server hold before (and while) it sends a request.

Unbounded, httptools takes a request head of any size (it joins a header value piece by piece
until the value ends) and uvicorn sets no deadline on a connection until it has answered a
request on it. Here:

- `max_connections` connections at once: a request on one more is answered 503 in the envelope
  and its connection closed, and a connection opened `DROPPED_BEYOND` past the limit is closed at
  once, so connections never take the file descriptors the database needs (open_files.py);
- the request line and headers may take `max_header_bytes` together, with at most
  `max_header_count` headers, and the Authorization header at most MAX_AUTHORIZATION_BYTES
  (our keys are about 50): beyond, the client gets 431 in the OpenAI envelope and the
  connection is closed. Bytes are counted as they arrive, so no more than one read past the
  limit is ever buffered.
- the head must arrive within `header_timeout` of the connection opening or of the previous
  response ending (this closes connections that send nothing, and heads sent a byte at a time);
  the body within `body_timeout` of the head. Late: 408 in the envelope if nothing was answered
  yet, and the connection is closed.

Idle keep-alive connections are closed by uvicorn's own `timeout_keep_alive`. Under another
server (uvicorn's command line, gunicorn) none of this applies: set that server's own limits.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any, Literal

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from threadline import open_files
from threadline.errors import HeadersTooLarge, RequestTimeout, ServerOverloaded, ThreadlineError
from threadline.settings import Settings

MAX_AUTHORIZATION_BYTES = 1024
# Connections past `max_connections` are answered 503 once they send a request; this many
# past it, new ones are closed as they open, with no answer.
DROPPED_BEYOND = open_files.RESERVED // 2


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_connections: int
    max_header_bytes: int
    max_header_count: int
    header_timeout: float
    body_timeout: float

    @classmethod
    def of(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            max_connections=settings.max_connections or open_files.connections_that_fit(),
            max_header_bytes=settings.max_header_bytes,
            max_header_count=settings.max_header_count,
            header_timeout=settings.request_header_timeout,
            body_timeout=settings.request_body_timeout,
        )


def bounded_http_protocol(limits: ConnectionLimits) -> Any:
    """uvicorn's `http=` option: a picklable factory, so `--workers` processes get it too."""
    return functools.partial(BoundedHttpProtocol, limits=limits)


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; httptools re-raises it as the context of
    its own HttpParserCallbackError."""

    def __init__(self, error: ThreadlineError) -> None:
        super().__init__(error.message)
        self.error = error


class BoundedHttpProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ConnectionLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits = limits
        self._phase: Literal["idle", "head", "body"] = "idle"  # idle: before a request
        self._head_received = 0  # raw bytes of reads that began inside the head
        self._head_parsed = 0  # request line and header bytes, exactly
        self._header_count = 0
        self._heads_begun = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False

    # -- connection ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._limits.max_connections + DROPPED_BEYOND:
            # Connections that send no request would otherwise hold their descriptors until
            # the header deadline, eating the ones kept for the database.
            self._refused = True
            transport.close()
            return
        self._arm(self._limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._unset_keepalive_if_required()
        phase, heads_begun = self._phase, self._heads_begun
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _Refused):
                self._refuse(exc.__context__.error)
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        # Counted when the whole read belongs to the head still unfinished: not when it also
        # held a request before (the exact count in the callbacks still bounds that one).
        began = self._heads_begun - heads_begun
        if self._phase == "head" and (
            (phase == "head" and began == 0) or (phase == "idle" and began == 1)
        ):
            self._head_received += len(data)
            if self._head_received > self._limits.max_header_bytes:
                self._refuse(self._headers_too_large())

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._phase != "body" and not self.transport.is_closing():
            self._arm(self._limits.header_timeout)

    # -- parser callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = "head"
        self._heads_begun += 1
        self._head_received = self._head_parsed = self._header_count = 0

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self._limits.max_header_count:
            raise _Refused(
                HeadersTooLarge(
                    f"Too many request headers: the limit is {self._limits.max_header_count} "
                    "(setting THREADLINE_MAX_HEADER_COUNT)."
                )
            )
        if len(value) > MAX_AUTHORIZATION_BYTES and name.lower() == b"authorization":
            raise _Refused(
                HeadersTooLarge(
                    f"The Authorization header is too long: the limit is "
                    f"{MAX_AUTHORIZATION_BYTES} bytes. Send `Authorization: Bearer <API key>`."
                )
            )
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if len(self.connections) > self._limits.max_connections:
            raise _Refused(ServerOverloaded(self._limits.max_connections))
        self._phase = "body"
        self._arm(self._limits.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._phase = "idle"
        super().on_message_complete()

    # -- limits ----------------------------------------------------------------------------

    def _count_head(self, size: int) -> None:
        self._head_parsed += size
        if self._head_parsed > self._limits.max_header_bytes:
            raise _Refused(self._headers_too_large())

    def _headers_too_large(self) -> HeadersTooLarge:
        return HeadersTooLarge(
            f"Request headers too large: the limit is {self._limits.max_header_bytes} bytes for "
            "the request line and headers (setting THREADLINE_MAX_HEADER_BYTES)."
        )

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self._phase != "body":
            limit = f"{self._limits.header_timeout:g} s (setting THREADLINE_REQUEST_HEADER_TIMEOUT)"
            what = "request headers"
        else:
            limit = f"{self._limits.body_timeout:g} s (setting THREADLINE_REQUEST_BODY_TIMEOUT)"
            what = "request body"
        self._refuse(RequestTimeout(f"The {what} did not arrive within {limit}."))

    def _refuse(self, error: ThreadlineError) -> None:
        """Answer `error` if no response was begun on this request, then close."""
        self._refused = True
        self._disarm()
        if self.transport.is_closing():
            return
        cycle = self.cycle
        answer = True
        if cycle is not None and not cycle.response_complete:
            # The app is working on this request: it reads a disconnect, its answer is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
            answer = not cycle.response_started
        if answer:
            self.transport.write(_envelope(error, self.server_state.default_headers))
        self.transport.close()


def _envelope(error: ThreadlineError, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    body = orjson.dumps({"error": error.to_error_object()})
    head = [STATUS_LINE[error.status_code]]
    for name, value in default_headers:
        head += [name, b": ", value, b"\r\n"]
    for text_name, text_value in error.headers.items():
        head += [text_name.encode("latin-1"), b": ", text_value.encode("latin-1"), b"\r\n"]
    head += [
        b"content-type: application/json\r\n",
        b"content-length: " + str(len(body)).encode() + b"\r\n",
        b"connection: close\r\n\r\n",
    ]
    return b"".join(head) + body
