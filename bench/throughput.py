"""Benchmark 1: non-streaming `POST /v1/responses` (store on, SQLite) at concurrency 1 and 16.

The baseline is the same fake upstream called directly with the request Threadline itself
sends it for such a turn (a plain, non-streamed Chat Completion: the client did not ask to
stream), so the difference is exactly what Threadline adds.

Threadline runs pinned to its CPU, as one process. Then, at concurrency 64 and not pinned, one
worker and `--workers 2` (issue 20's target: 2 workers ≥ 1.6x one): what the machine's cores give
when the server may use them all, sharing them with the fake upstream and the load generator.
"""

from __future__ import annotations

import orjson

from bench.context import MODEL, BenchContext
from bench.load import LoadResult, run_load
from bench.procs import Placement, Service, start_fake, start_threadline
from bench.results import Figure

NAME = "1. Non-streaming POST /v1/responses (store, SQLite)"
PROMPT = "hello"

RESPONSES_BODY = orjson.dumps({"model": MODEL, "input": PROMPT, "store": True})
UPSTREAM_BODY = orjson.dumps(
    {
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPT}],
    }
)
WORKERS = 2


def measure(ctx: BenchContext, service: Service, path: str, body: bytes, c: int) -> LoadResult:
    url = f"{service.url}{path}"
    run_load(ctx.placement, url, body, concurrency=c, seconds=ctx.seconds(2, 1), logs=ctx.workdir)
    result = run_load(
        ctx.placement, url, body, concurrency=c, seconds=ctx.seconds(10, 3), logs=ctx.workdir
    )
    if not result.ok:
        raise RuntimeError(f"load on {url} at c={c} had failures: {result}")
    return result


def run(ctx: BenchContext) -> list[Figure]:
    results: dict[tuple[str, int], LoadResult] = {}
    with start_fake(ctx.placement, ctx.workdir) as fake:
        for c in (1, 16):
            results["direct", c] = measure(ctx, fake, "/v1/chat/completions", UPSTREAM_BODY, c)
        with start_threadline(
            ctx.placement, ctx.workdir, fake, ctx.database("throughput")
        ) as server:
            for c in (1, 16):
                results["threadline", c] = measure(ctx, server, "/v1/responses", RESPONSES_BODY, c)
        for workers in (1, WORKERS):
            with start_threadline(
                Placement(None, ctx.placement.load),
                ctx.workdir,
                fake,
                ctx.database(f"throughput-{workers}-workers"),
                extra_args=["--workers", str(workers)],
            ) as server:
                # keyed by worker count: these run at c=64
                results["workers", workers] = measure(
                    ctx, server, "/v1/responses", RESPONSES_BODY, 64
                )
    return figures(results)


def figures(results: dict[tuple[str, int], LoadResult]) -> list[Figure]:
    direct = "fake upstream direct"
    t1, d1 = results["threadline", 1], results["direct", 1]
    t16, d16 = results["threadline", 16], results["direct", 16]
    added = t1.p50_ms - d1.p50_ms
    return [
        Figure("throughput.c1.rps", NAME, "throughput, c=1", t1.rps, "req/s", d1.rps, direct),
        Figure("throughput.c1.p50", NAME, "p50 latency, c=1", t1.p50_ms, "ms", d1.p50_ms, direct),
        Figure("throughput.c1.p99", NAME, "p99 latency, c=1", t1.p99_ms, "ms", d1.p99_ms, direct),
        Figure(
            "throughput.c1.added_p50",
            NAME,
            "added p50 latency, c=1 (Threadline - direct)",
            added,
            "ms",
            target="≤ 0.8 ms (issue 20)",
            met=added <= 0.8,
        ),
        Figure(
            "throughput.c16.rps",
            NAME,
            "throughput, c=16",
            t16.rps,
            "req/s",
            d16.rps,
            direct,
            target="≥ 0.10x direct (issue 20)",
            met=t16.rps >= 0.10 * d16.rps,
        ),
        Figure(
            "throughput.c16.p50", NAME, "p50 latency, c=16", t16.p50_ms, "ms", d16.p50_ms, direct
        ),
        Figure(
            "throughput.c16.p99",
            NAME,
            "p99 latency, c=16",
            t16.p99_ms,
            "ms",
            d16.p99_ms,
            direct,
            target="< 25 ms (issue 20)",
            met=t16.p99_ms < 25,
        ),
        *_workers_figures(results.get(("workers", WORKERS)), results.get(("workers", 1))),
    ]


def _workers_figures(workers: LoadResult | None, one: LoadResult | None) -> list[Figure]:
    if workers is None or one is None:
        return []
    label, n = "one worker, not pinned", WORKERS
    return [
        Figure(
            "throughput.workers.c64.rps",
            NAME,
            f"throughput, c=64, {n} workers",
            workers.rps,
            "req/s",
            one.rps,
            label,
            target="≥ 1.6x (issue 20)",
            met=workers.rps >= 1.6 * one.rps,
            note=f"ratio {workers.rps / one.rps:.2f}; server processes not pinned",
        ),
        Figure(
            "throughput.workers.c64.p99",
            NAME,
            f"p99 latency, c=64, {n} workers",
            workers.p99_ms,
            "ms",
            one.p99_ms,
            label,
        ),
    ]
