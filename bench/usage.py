"""Benchmark 10: what the usage ledger and key limits cost a turn (non-streaming
`POST /v1/responses`, store on, SQLite).

Two keys on one server, measured in interleaved rounds so that the machine's drift touches
both alike: a key without limits (its turns are charged to the ledger, which is written in
batches, off the turn's path) and a metered key (requests per minute and a daily budget, both
too high to refuse: every request is admitted by one conditional write and every turn adds its
tokens and cost to the key's counters, two writes more on SQLite's one writer). The ratio is
the metered key's added cost. The ledger's own cost is set against the code before it by
`python -m bench --only throughput --rev <before>`, interleaved (docs/performance.md).

Then the ledger is checked whole: after the server stops, it holds one row per request made.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import orjson
from sqlalchemy import func, select

from bench.context import MODEL, BenchContext
from bench.http1 import HttpConnection
from bench.procs import start_fake, start_threadline
from bench.results import Figure, median, ms
from threadline.storage.sql import SqlStore
from threadline.storage.sql.tables import usage_records

NAME = "10. Usage ledger and key limits (SQLite)"
BODY = orjson.dumps({"model": MODEL, "input": "hello", "store": True})
CONCURRENCY = 8
ADDED_MS = 1.0
"""A metered request costs one more write (the admission's conditional upsert): on SQLite,
a commit, well under a millisecond."""
RATE_RATIO = 0.8


def _key(database: str, name: str, *limits: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "threadline", "keys", "create", name, "--db", database, *limits],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


async def run(ctx: BenchContext) -> list[Figure]:
    database = ctx.database("usage")
    plain = _key(database, "plain")
    metered = _key(database, "metered", "--rpm", "100000000", "--daily-budget", "1000000")
    rounds, per_round = ctx.count(10, 3), ctx.count(200, 40)
    latencies: dict[str, list[float]] = {plain: [], metered: []}
    rates: dict[str, list[float]] = {plain: [], metered: []}
    with (
        start_fake(ctx.placement, ctx.workdir) as fake,
        start_threadline(ctx.placement, ctx.workdir, fake, database) as server,
    ):
        for secret in (plain, metered):  # warm both paths
            await sequential_turns(server.port, secret, 50)
        for _ in range(rounds):
            for secret in (plain, metered):
                latencies[secret] += await sequential_turns(server.port, secret, per_round)
                rates[secret].append(await concurrent_rate(server.port, secret, per_round))
    sent = 2 * 50 + sum(map(len, latencies.values())) + 2 * rounds * concurrent_count(per_round)
    rows = await _ledger_rows(database)
    added = ms(median(latencies[metered])) - ms(median(latencies[plain]))
    rate_ratio = median(rates[metered]) / median(rates[plain])
    return [
        Figure(
            "usage.metered_c1_p50",
            NAME,
            "metered key, c=1: p50 latency",
            ms(median(latencies[metered])),
            "ms",
            baseline=ms(median(latencies[plain])),
            baseline_label="a key without limits, same server, interleaved rounds",
            target=f"≤ +{ADDED_MS:g} ms",
            met=added <= ADDED_MS,
            note=f"+{added:.2f} ms",
        ),
        Figure(
            "usage.metered_c8_rps",
            NAME,
            f"metered key, c={CONCURRENCY}: requests/s",
            round(median(rates[metered]), 1),
            "req/s",
            baseline=round(median(rates[plain]), 1),
            baseline_label="a key without limits, same server, interleaved rounds",
            target=f"≥ {RATE_RATIO}x",
            met=rate_ratio >= RATE_RATIO,
            note=f"ratio {rate_ratio:.2f}",
        ),
        Figure(
            "usage.ledger_rows",
            NAME,
            "ledger rows per request, after the server stopped",
            round(rows / sent, 4),
            "rows/request",
            target="= 1",
            met=rows == sent,
            note=f"{rows} rows for {sent} requests",
        ),
    ]


async def sequential_turns(port: int, secret: str, count: int) -> list[float]:
    """The latency of each of `count` turns, one after another on one connection."""
    connection = await HttpConnection.open("127.0.0.1", port)
    headers = {"Authorization": f"Bearer {secret}"}
    took = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            reply = await connection.request("POST", "/v1/responses", BODY, headers=headers)
            took.append(time.perf_counter() - started)
            if reply.status != 200:
                raise RuntimeError(f"answered {reply.status}: {reply.body[:300]!r}")
    finally:
        await connection.close()
    return took


async def concurrent_rate(port: int, secret: str, count: int) -> float:
    """Requests per second for `count` turns over `CONCURRENCY` connections."""
    headers = {"Authorization": f"Bearer {secret}"}
    connections = [await HttpConnection.open("127.0.0.1", port) for _ in range(CONCURRENCY)]

    async def lane(connection: HttpConnection, n: int) -> None:
        for _ in range(n):
            reply = await connection.request("POST", "/v1/responses", BODY, headers=headers)
            if reply.status != 200:
                raise RuntimeError(f"answered {reply.status}: {reply.body[:300]!r}")

    share = concurrent_count(count) // CONCURRENCY
    started = time.perf_counter()
    try:
        await asyncio.gather(*(lane(c, share) for c in connections))
    finally:
        for connection in connections:
            await connection.close()
    return share * CONCURRENCY / (time.perf_counter() - started)


def concurrent_count(count: int) -> int:
    return count // CONCURRENCY * CONCURRENCY


async def _ledger_rows(database: str) -> int:
    store = SqlStore(f"sqlite+aiosqlite:///{database}")
    try:
        return await store.read(
            lambda conn: int(conn.scalar(select(func.count()).select_from(usage_records)) or 0)
        )
    finally:
        await store.close()
