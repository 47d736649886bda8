"""Connections are bounded before the app sees a request: header size and count, and deadlines
for the headers, the body and idle keep-alive. Spoken to over raw sockets, since an HTTP
client would not send what these tests send."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer
from threadline.api.connection_limits import DROPPED_BEYOND

HEADER_LIMIT = 4096
TIMEOUT_S = 1


@pytest.fixture(scope="module")
def bounded_server(
    fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("connections")
    env = {
        "THREADLINE_MAX_HEADER_BYTES": str(HEADER_LIMIT),
        "THREADLINE_REQUEST_HEADER_TIMEOUT": str(TIMEOUT_S),
        "THREADLINE_REQUEST_BODY_TIMEOUT": str(TIMEOUT_S),
        "THREADLINE_KEEP_ALIVE_TIMEOUT": str(TIMEOUT_S),
    }
    with LiveServer(
        str(directory / "t.db"), fake.base_url, env=env, log_path=directory / "server.log"
    ) as live:
        yield live


def _connect(server: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def _read_response(sock: socket.socket) -> bytes:
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _error_code(answer: bytes, status: int) -> str:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), head
    assert b"content-type: application/json" in head.lower()
    error = orjson.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    code: str = error["code"]
    return code


def _request(headers: list[tuple[str, str]], *, body: bytes = b"") -> bytes:
    lines = ["GET /healthz HTTP/1.1", "Host: localhost"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_request_headers_over_the_byte_limit_get_a_431(bounded_server: LiveServer) -> None:
    with _connect(bounded_server) as sock:
        sock.sendall(_request([("X-Padding", "p" * (HEADER_LIMIT + 1))]))
        answer = _read_until_closed(sock)
    assert _error_code(answer, 431) == "request_header_fields_too_large"


def test_too_many_request_headers_get_a_431(bounded_server: LiveServer) -> None:
    with _connect(bounded_server) as sock:
        sock.sendall(_request([(f"X-H{i}", "1") for i in range(101)]))
        answer = _read_until_closed(sock)
    assert _error_code(answer, 431) == "request_header_fields_too_large"
    assert b"THREADLINE_MAX_HEADER_COUNT" in answer


def test_a_long_authorization_header_gets_a_431(bounded_server: LiveServer) -> None:
    with _connect(bounded_server) as sock:
        sock.sendall(_request([("Authorization", "Bearer " + "k" * 2000)]))
        answer = _read_until_closed(sock)
    assert _error_code(answer, 431) == "request_header_fields_too_large"
    assert b"Authorization" in answer


def test_requests_within_the_limits_are_answered_on_the_same_connection(
    bounded_server: LiveServer,
) -> None:
    with _connect(bounded_server) as sock:
        for _ in range(3):
            sock.sendall(_request([(f"X-H{i}", "v" * 20) for i in range(50)]))
            assert _read_response(sock).startswith(b"HTTP/1.1 200 ")


def test_huge_headers_are_refused_without_being_read_or_held(bounded_server: LiveServer) -> None:
    """Before the bound, 8 connections each sending 40 MB of headers grew the server by
    327 MB: every byte was read and joined into one header value."""
    size = 16 * 1024 * 1024
    piece = b"x" * 65536
    rss_before = _rss_kib(bounded_server.pid)
    cut_off = 0
    for _ in range(4):
        with _connect(bounded_server) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Huge: ")
            sent = 0
            try:
                while sent < size:
                    sent += sock.send(piece)
            except (BrokenPipeError, ConnectionResetError):
                cut_off += 1
    assert cut_off == 4, "the server read a whole 16 MB header"
    growth_mib = (_rss_kib(bounded_server.pid) - rss_before) / 1024
    assert growth_mib < 16, f"the server grew by {growth_mib:.0f} MiB"


def test_a_connection_that_sends_nothing_gets_a_408_at_the_header_timeout(
    bounded_server: LiveServer,
) -> None:
    started = time.monotonic()
    with _connect(bounded_server) as sock:
        answer = _read_until_closed(sock)
    elapsed = time.monotonic() - started
    assert _error_code(answer, 408) == "request_timeout"
    assert TIMEOUT_S * 0.9 <= elapsed < TIMEOUT_S + 2


def test_headers_sent_a_byte_at_a_time_are_cut_off_at_the_header_timeout(
    bounded_server: LiveServer,
) -> None:
    request = _request([("X-Slow", "s" * 200)])
    started = time.monotonic()
    with _connect(bounded_server) as sock, pytest.raises((BrokenPipeError, ConnectionResetError)):
        for byte in request:
            sock.send(bytes([byte]))
            time.sleep(0.05)
            if time.monotonic() - started > TIMEOUT_S + 3:
                pytest.fail("the server still reads headers sent a byte at a time")
    assert time.monotonic() - started < TIMEOUT_S + 3


def test_a_body_that_drips_gets_a_408_at_the_body_timeout(bounded_server: LiveServer) -> None:
    head = (
        b"POST /v1/responses HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    started = time.monotonic()
    with _connect(bounded_server) as sock:
        sock.sendall(head + b'{"model": "fake-model", "input": "')
        time.sleep(TIMEOUT_S + 0.5)
        answer = _read_until_closed(sock)
    assert _error_code(answer, 408) == "request_timeout"
    assert b"body" in answer
    assert time.monotonic() - started < TIMEOUT_S + 3


def test_an_idle_keep_alive_connection_is_closed_at_the_keep_alive_timeout(
    bounded_server: LiveServer,
) -> None:
    with _connect(bounded_server) as sock:
        sock.sendall(_request([]))
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        assert sock.recv(65536) == b""  # closed by the server
    assert time.monotonic() - started < TIMEOUT_S + 2


def test_a_large_body_sent_along_with_its_headers_is_not_counted_as_headers(
    bounded_server: LiveServer,
) -> None:
    body = orjson.dumps({"model": "fake-model", "input": "x " * 20_000})
    head = (
        "POST /v1/responses HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with _connect(bounded_server) as sock:
        sock.sendall(head + body)
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")


def test_worker_processes_apply_the_same_limits(fake: FakeUpstream, tmp_path: Path) -> None:
    env = {"THREADLINE_MAX_HEADER_BYTES": str(HEADER_LIMIT)}
    with (
        LiveServer(
            str(tmp_path / "t.db"),
            fake.base_url,
            env=env,
            log_path=tmp_path / "log",
            serve_args=("--workers", "2"),
        ) as server,
        _connect(server) as sock,
    ):
        sock.sendall(_request([("X-Padding", "p" * (HEADER_LIMIT + 1))]))
        answer = _read_until_closed(sock)
    assert _error_code(answer, 431) == "request_header_fields_too_large"


MAX_CONNECTIONS = 3


def test_a_request_on_a_connection_beyond_the_limit_gets_503_and_is_closed(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    env = {"THREADLINE_MAX_CONNECTIONS": str(MAX_CONNECTIONS)}
    with LiveServer(str(tmp_path / "t.db"), fake.base_url, env=env) as server:
        held = [_connect(server) for _ in range(MAX_CONNECTIONS)]
        try:
            for sock in held:
                sock.sendall(_request([]))
                assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
            with _connect(server) as extra:
                extra.sendall(_request([]))
                answer = _read_until_closed(extra)
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503 "), head
            assert b"\r\nretry-after: 1\r\n" in head.lower() + b"\r\n"
            error = orjson.loads(body)["error"]
            assert set(error) == {"message", "type", "param", "code"}
            assert error["code"] == "server_overloaded"
            assert "THREADLINE_MAX_CONNECTIONS" in error["message"]
            held.pop().close()
            # A connection let go makes room, once the server has seen it close.
            deadline = time.monotonic() + 10
            while True:
                with _connect(server) as again:
                    again.sendall(_request([]))
                    if _read_response(again).startswith(b"HTTP/1.1 200 "):
                        break
                assert time.monotonic() < deadline, "no room made by the closed connection"
                time.sleep(0.05)
        finally:
            for sock in held:
                sock.close()


def test_connections_far_beyond_the_limit_are_closed_as_they_open(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    env = {"THREADLINE_MAX_CONNECTIONS": str(MAX_CONNECTIONS)}
    with LiveServer(str(tmp_path / "t.db"), fake.base_url, env=env) as server:
        idle = [_connect(server) for _ in range(MAX_CONNECTIONS + DROPPED_BEYOND)]
        try:
            with _connect(server) as dropped:
                assert _read_until_closed(dropped) == b""  # closed unasked, unanswered
            idle[-1].sendall(_request([]))  # open, but past the limit
            assert _read_response(idle[-1]).startswith(b"HTTP/1.1 503 ")
        finally:
            for sock in idle:
                sock.close()
