"""Benchmark 7: a conversation of N turns that compacts itself (`context_management` with a
threshold of 1,000 tokens), on SQLite. The cost of a turn late in it against one of its first
ten: compaction keeps what the model is sent bounded, and the store's reads are bounded by
design (benchmark 3), so the last turns should cost what the first ones do, compactions
included (a compacting turn makes two model calls; the median of ten sees through them).
"""

from __future__ import annotations

import json
import time

import orjson

from bench.context import BenchContext
from bench.http1 import HttpConnection
from bench.procs import start_fake, start_threadline
from bench.results import Figure, median, ms

NAME = "7. Compacting conversation (SQLite)"
WINDOW = 10
MODEL = "w/fake-window-20000"
TARGET = 1.3


async def run(ctx: BenchContext) -> list[Figure]:
    turns = ctx.count(2000, 200)
    latencies: list[float] = []
    compactions = 0
    with start_fake(ctx.placement, ctx.workdir) as fake:
        providers = {
            "w": {
                "base_url": f"{fake.url}/v1",
                "api_key": "bench",
                "model_limits": {
                    "fake-window-20000": {"context_window": 20000, "max_output_tokens": 1000}
                },
            }
        }
        env = {"THREADLINE_PROVIDERS": json.dumps(providers), "THREADLINE_DEFAULT_PROVIDER": "w"}
        database = ctx.database("compaction")
        with start_threadline(ctx.placement, ctx.workdir, fake, database, env=env) as server:
            connection = await HttpConnection.open("127.0.0.1", server.port)
            try:
                reply = await connection.request("POST", "/v1/conversations", b"{}")
                conversation = orjson.loads(reply.body)["id"]
                for turn in range(turns):
                    body = orjson.dumps(
                        {
                            "model": MODEL,
                            "input": f"turn {turn}: " + " ".join(["news"] * 12),
                            "conversation": conversation,
                            "context_management": [
                                {"type": "compaction", "compact_threshold": 1000}
                            ],
                        }
                    )
                    started = time.perf_counter()
                    reply = await connection.request("POST", "/v1/responses", body)
                    latencies.append(time.perf_counter() - started)
                    if reply.status != 200:
                        raise RuntimeError(
                            f"turn {turn} answered {reply.status}: {reply.body[:300]!r}"
                        )
                    output = orjson.loads(reply.body)["output"]
                    compactions += output[0]["type"] == "compaction"
            finally:
                await connection.close()
    first, last = median(latencies[1 : WINDOW + 1]), median(latencies[-WINDOW:])
    ratio = last / first
    return [
        Figure(
            "compaction.last_vs_first",
            NAME,
            f"turn {turns - WINDOW + 1}-{turns} vs turns 2-{WINDOW + 1} (median latency)",
            ms(last),
            "ms",
            baseline=ms(first),
            baseline_label=f"turns 2-{WINDOW + 1} of the same conversation",
            target=f"≤ {TARGET}x",
            met=ratio <= TARGET,
            note=f"ratio {ratio:.2f}; {compactions} turns compacted",
        )
    ]
