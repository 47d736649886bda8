"""Benchmark 5: the PostgreSQL backend, 2 server workers (two processes sharing one database, as
two replicas would), concurrency 16 and 64.

Runs only with a database URL (`--postgres-url` or $THREADLINE_TEST_POSTGRES_URL); the
server migrates that database and adds rows to it, nothing is deleted. The baseline is the
fake upstream called directly, as in benchmark 1.
"""

from __future__ import annotations

from bench.context import BenchContext
from bench.load import LoadResult
from bench.procs import Placement, serve_help, start_fake, start_threadline
from bench.results import Figure, not_run
from bench.throughput import RESPONSES_BODY, UPSTREAM_BODY, measure

NAME = "5. PostgreSQL backend"
WORKERS = 2
C64_TARGET = 1500


def _not_run(reason: str) -> list[Figure]:
    return [
        not_run("postgres.c16.rps", NAME, f"throughput, c=16, {WORKERS} workers", "req/s", reason)
    ]


def run(ctx: BenchContext) -> list[Figure]:
    if not ctx.postgres_url:
        return _not_run("no PostgreSQL URL: --postgres-url or THREADLINE_TEST_POSTGRES_URL")
    if "--workers" not in serve_help():
        return _not_run("`threadline serve` has no --workers option yet")
    with start_fake(ctx.placement, ctx.workdir) as fake:
        direct = {c: measure(ctx, fake, "/v1/chat/completions", UPSTREAM_BODY, c) for c in (16, 64)}
        try:
            # Two workers on the one server CPU would only take turns: let them use all CPUs.
            server = start_threadline(
                Placement(None, ctx.placement.load),
                ctx.workdir,
                fake,
                ctx.postgres_url,
                extra_args=["--workers", str(WORKERS)],
            )
        except RuntimeError as exc:
            return _not_run(f"the server did not start on PostgreSQL: {exc}")
        with server:
            result = {c: measure(ctx, server, "/v1/responses", RESPONSES_BODY, c) for c in (16, 64)}
    return figures(result, direct)


def figures(results: dict[int, LoadResult], directs: dict[int, LoadResult]) -> list[Figure]:
    label = "fake upstream direct"
    result, direct = results[16], directs[16]
    return [
        Figure(
            "postgres.c16.rps",
            NAME,
            f"throughput, c=16, {WORKERS} workers",
            result.rps,
            "req/s",
            direct.rps,
            label,
            note="server processes not pinned",
        ),
        Figure(
            "postgres.c16.p50",
            NAME,
            f"p50 latency, c=16, {WORKERS} workers",
            result.p50_ms,
            "ms",
            direct.p50_ms,
            label,
        ),
        Figure(
            "postgres.c16.p99",
            NAME,
            f"p99 latency, c=16, {WORKERS} workers",
            result.p99_ms,
            "ms",
            direct.p99_ms,
            label,
        ),
        Figure(
            "postgres.c64.rps",
            NAME,
            f"throughput, c=64, {WORKERS} workers",
            results[64].rps,
            "req/s",
            directs[64].rps,
            label,
            target="≥ 1,500 req/s (issue 20, two replicas)",
            met=results[64].rps >= C64_TARGET,
            note="server processes not pinned",
        ),
        Figure(
            "postgres.c64.p99",
            NAME,
            f"p99 latency, c=64, {WORKERS} workers",
            results[64].p99_ms,
            "ms",
            directs[64].p99_ms,
            label,
        ),
    ]
