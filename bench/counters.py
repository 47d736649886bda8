"""Work counted per request, by kind of request, on `bench.instrumented_server`.

Profiles say where time goes; these counts say why: how many SQL statements and thread hops a
turn costs, whether upstream connections are reused, how often JSON is produced. Requests are
sent one at a time, so each kind's counts divide cleanly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.context import MODEL, BenchContext
from bench.http1 import HttpConnection
from bench.procs import Service, start_fake, start_threadline

Body = Callable[[str | None], dict[str, object]]


@dataclass(slots=True)
class KindCounts:
    kind: str
    requests: int
    per_request: dict[str, float]
    """Counter name -> average per request (including `upstream.connections_opened` and
    `response.bytes`, the size of what the client received)."""


async def _counters(connection: HttpConnection) -> dict[str, int]:
    reply = await connection.request("GET", "/_bench/counters")
    data: dict[str, int] = orjson.loads(reply.body)
    return data


def upstream_connections(port: int) -> set[int]:
    """Client ports of every TCP connection to or from `port` the kernel still knows about,
    including closed ones waiting in TIME_WAIT (60 s): connections opened recently."""
    seen: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, remote, state = fields[1], fields[2], fields[3]
                local_port = int(local.rsplit(":", 1)[1], 16)
                remote_port = int(remote.rsplit(":", 1)[1], 16)
                if state == "0A":  # LISTEN
                    continue
                if remote_port == port:
                    seen.add(local_port)
                elif local_port == port:
                    seen.add(remote_port)
    return seen


async def _measure(
    server: Service, fake: Service, kind: str, count: int, body: Body, path: str = "/v1/responses"
) -> KindCounts:
    connection = await HttpConnection.open("127.0.0.1", server.port)
    try:
        previous: str | None = None
        for _ in range(3):  # warm-up: caches filled, pools opened
            previous = await _send(connection, path, body(previous))
        before = await _counters(connection)
        ports_before = upstream_connections(fake.port)
        received = 0
        for _ in range(count):
            reply_id, size = await _send_sized(connection, path, body(previous))
            previous, received = reply_id, received + size
        after = await _counters(connection)
        opened = len(upstream_connections(fake.port) - ports_before)
    finally:
        await connection.close()
    per_request = {
        name: (after.get(name, 0) - before.get(name, 0)) / count
        for name in after
        if after.get(name, 0) != before.get(name, 0)
    }
    per_request["upstream.connections_opened"] = opened / count
    per_request["response.bytes"] = received / count
    return KindCounts(kind, count, per_request)


async def _send(connection: HttpConnection, path: str, body: dict[str, object]) -> str | None:
    return (await _send_sized(connection, path, body))[0]


async def _send_sized(
    connection: HttpConnection, path: str, body: dict[str, object]
) -> tuple[str | None, int]:
    reply = await connection.request("POST", path, orjson.dumps(body))
    if reply.status != 200:
        raise RuntimeError(f"POST {path} answered {reply.status}: {reply.body[:300]!r}")
    if body.get("stream"):
        return None, len(reply.body)
    return str(orjson.loads(reply.body)["id"]), len(reply.body)


async def run(ctx: BenchContext) -> list[KindCounts]:
    count = ctx.count(20, 5)
    with (
        start_fake(ctx.placement, ctx.workdir) as fake,
        start_threadline(
            ctx.placement,
            ctx.workdir,
            fake,
            ctx.database("counters"),
            module="bench.instrumented_server",
        ) as server,
    ):
        connection = await HttpConnection.open("127.0.0.1", server.port)
        try:
            reply = await connection.request("POST", "/v1/conversations", b"{}")
            conversation = str(orjson.loads(reply.body)["id"])
        finally:
            await connection.close()

        def plain(store: bool) -> Body:
            return lambda _previous: {"model": MODEL, "input": "hello", "store": store}

        def chained(previous: str | None) -> dict[str, object]:
            return {"model": MODEL, "input": "hello", "previous_response_id": previous}

        def in_conversation(_previous: str | None) -> dict[str, object]:
            return {"model": MODEL, "input": "hello", "conversation": conversation}

        def streamed(_previous: str | None) -> dict[str, object]:
            return {"model": MODEL, "input": "hello", "stream": True}

        return [
            await _measure(server, fake, "create, store: true", count, plain(True)),
            await _measure(server, fake, "create, store: false", count, plain(False)),
            await _measure(server, fake, "continue a chain", count, chained),
            await _measure(server, fake, "conversation turn", count, in_conversation),
            await _measure(server, fake, "create, stream: true", count, streamed),
        ]
