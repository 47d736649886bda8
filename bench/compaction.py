"""Benchmark 7: a conversation of N turns on a model with a bounded window, on SQLite, kept
within it two ways: compacting itself (`context_management` with a threshold of 1,000 tokens),
and dropping whole oldest turns (`truncation: "auto"`). The cost of a turn late in each against
one of its first ten: what the model is sent stays bounded, the store's reads are bounded by
design (benchmark 3), and truncation measures only what it keeps (walked from the newest
item), so the last turns should cost what the first ones do (a compacting turn makes two model
calls; the median of ten sees through them).
"""

from __future__ import annotations

import json
import time
from typing import Any

import orjson

from bench.context import BenchContext
from bench.http1 import HttpConnection
from bench.procs import start_fake, start_threadline
from bench.results import Figure, median, ms

NAME = "7. Long conversations in a bounded window (SQLite)"
WINDOW = 10
COMPACTING = "w/fake-window-20000"
TRUNCATING = "w/fake-window-2000"
TARGET = 1.3


async def run(ctx: BenchContext) -> list[Figure]:
    turns = ctx.count(2000, 200)
    limits = {
        "fake-window-20000": {"context_window": 20000, "max_output_tokens": 1000},
        "fake-window-2000": {"context_window": 2000, "max_output_tokens": 100},
    }
    with start_fake(ctx.placement, ctx.workdir) as fake:
        providers = {
            "w": {"base_url": f"{fake.url}/v1", "api_key": "bench", "model_limits": limits}
        }
        env = {"THREADLINE_PROVIDERS": json.dumps(providers), "THREADLINE_DEFAULT_PROVIDER": "w"}
        database = ctx.database("compaction")
        with start_threadline(ctx.placement, ctx.workdir, fake, database, env=env) as server:
            connection = await HttpConnection.open("127.0.0.1", server.port)
            try:
                compacting = {
                    "model": COMPACTING,
                    "context_management": [{"type": "compaction", "compact_threshold": 1000}],
                }
                compacted, compactions = await _conversation(connection, turns, compacting)
                truncating = {"model": TRUNCATING, "truncation": "auto"}
                truncated, _ = await _conversation(connection, turns, truncating)
            finally:
                await connection.close()
    # A truncated conversation's context grows until the window is full (by turn ~80 here),
    # so its last turns are set against turns 201-210, when it has long been full.
    return [
        _figure("compaction.last_vs_first", "compacting", compacted, 1, compactions),
        _figure("truncation.last_vs_full", "truncation: auto", truncated, turns // 10, None),
    ]


async def _conversation(
    connection: HttpConnection, turns: int, settings: dict[str, Any]
) -> tuple[list[float], int]:
    """Each turn's latency, and how many turns compacted."""
    reply = await connection.request("POST", "/v1/conversations", b"{}")
    conversation = orjson.loads(reply.body)["id"]
    latencies: list[float] = []
    compactions = 0
    for turn in range(turns):
        body = orjson.dumps(
            {
                **settings,
                "input": f"turn {turn}: " + " ".join(["news"] * 12),
                "conversation": conversation,
            }
        )
        started = time.perf_counter()
        reply = await connection.request("POST", "/v1/responses", body)
        latencies.append(time.perf_counter() - started)
        if reply.status != 200:
            raise RuntimeError(f"turn {turn} answered {reply.status}: {reply.body[:300]!r}")
        output = orjson.loads(reply.body)["output"]
        compactions += output[0]["type"] == "compaction"
    return latencies, compactions


def _figure(
    key: str, how: str, latencies: list[float], since: int, compactions: int | None
) -> Figure:
    """The median of the last turns against that of turns `since`+1.. (0-based `since`)."""
    turns = len(latencies)
    first, last = median(latencies[since : since + WINDOW]), median(latencies[-WINDOW:])
    ratio = last / first
    note = f"ratio {ratio:.2f}"
    if compactions is not None:
        note += f"; {compactions} turns compacted"
    return Figure(
        key,
        NAME,
        f"{how}: turn {turns - WINDOW + 1}-{turns} vs turns {since + 1}-{since + WINDOW} "
        "(median latency)",
        ms(last),
        "ms",
        baseline=ms(first),
        baseline_label=f"turns {since + 1}-{since + WINDOW} of the same conversation",
        target=f"≤ {TARGET}x",
        met=ratio <= TARGET,
        note=note,
    )
