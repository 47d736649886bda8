"""Benchmark 4: many open streams. Server memory and the delay between events under load.

N streams are opened at once and kept open by a slow fake upstream (`CHUNK_DELAY` between
chunks); the server's resident memory is sampled while they run, and the client records the
gap between consecutive content events of every stream. The baseline is the same N streams
opened directly on the fake upstream, from the same client.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable

from bench.context import BenchContext
from bench.http1 import (
    THREADLINE_DELTA,
    THREADLINE_DELTA_WIDTH,
    UPSTREAM_CONTENT,
    UPSTREAM_CONTENT_WIDTH,
    HttpConnection,
    MarkerClock,
)
from bench.procs import Service, rss_bytes, start_fake, start_threadline
from bench.results import Figure, ms, percentile
from bench.streaming import responses_body, upstream_body

NAME = "4. Many open streams (SQLite)"
CHUNK_DELAY = 0.2
RSS_TARGET = 300 * 1024 * 1024
# Issue 20's targets for 10,000 streams (`--open-streams 10000`); the delay between events is
# counted over the upstream's own `CHUNK_DELAY`.
MANY = 10_000
RSS_TARGET_MANY = 1024 * 1024 * 1024
GAP_P99_TARGET_MANY = 0.020


class Outcome:
    def __init__(self) -> None:
        self.gaps: list[float] = []
        self.gap_starts: list[float] = []
        self.first_events: list[float] = []
        self.last_events: list[float] = []
        self.completed = 0
        self.failed = 0

    def steady_gaps(self) -> list[float]:
        """The gaps that began once every stream had its first event: streaming alone, without
        the work of opening the others."""
        if not self.first_events:
            return []
        all_open = max(self.first_events)
        return [g for g, a in zip(self.gaps, self.gap_starts, strict=True) if a >= all_open]

    def most_at_once(self) -> int:
        """The most streams between their first and last events at one moment."""
        edges = sorted([(t, 1) for t in self.first_events] + [(t, -1) for t in self.last_events])
        return max(itertools.accumulate(step for _, step in edges), default=0)


async def _one_stream(
    service: Service, path: str, body: bytes, threadline: bool, words: int, outcome: Outcome
) -> None:
    clock = (
        MarkerClock(THREADLINE_DELTA, THREADLINE_DELTA_WIDTH)
        if threadline
        else MarkerClock(UPSTREAM_CONTENT, UPSTREAM_CONTENT_WIDTH)
    )
    # A stream that ended `failed` after every delta did not complete.
    ending = b"event: response.completed" if threadline else b"data: [DONE]"
    try:
        connection = await HttpConnection.open("127.0.0.1", service.port)
        try:
            reply = await connection.request("POST", path, body, clock.feed)
        finally:
            await connection.close()
    except (OSError, asyncio.IncompleteReadError):
        outcome.failed += 1
        return
    if reply.status != 200 or len(clock.times) != words or ending not in clock.body:
        outcome.failed += 1
        return
    outcome.completed += 1
    outcome.first_events.append(clock.times[0])
    outcome.last_events.append(clock.times[-1])
    for a, b in itertools.pairwise(clock.times):
        outcome.gaps.append(b - a)
        outcome.gap_starts.append(a)


async def open_streams(
    start: Callable[[], Awaitable[None]], count: int, sample_pid: int | None
) -> tuple[float, list[int]]:
    """Run `count` concurrent `start()` and sample the RSS of `sample_pid` while they run."""
    samples: list[int] = []
    tasks = [asyncio.ensure_future(start()) for _ in range(count)]
    started = time.perf_counter()
    all_done = asyncio.gather(*tasks)
    while not all_done.done():
        if sample_pid is not None:
            samples.append(rss_bytes(sample_pid))
        await asyncio.wait([all_done], timeout=0.25)
    await all_done
    return time.perf_counter() - started, samples


async def run(ctx: BenchContext) -> list[Figure]:
    count = ctx.open_streams or ctx.count(500, 100)
    words = ctx.count(40, 10)
    prompt = f"long {words}"
    direct, through = Outcome(), Outcome()
    with start_fake(ctx.placement, ctx.workdir, chunk_delay=CHUNK_DELAY) as fake:
        await open_streams(
            lambda: _one_stream(
                fake, "/v1/chat/completions", upstream_body(prompt), False, words, direct
            ),
            count,
            None,
        )
        with start_threadline(
            ctx.placement, ctx.workdir, fake, ctx.database("open_streams")
        ) as server:
            warm = Outcome()
            await open_streams(
                lambda: _one_stream(
                    server, "/v1/responses", responses_body("warm up"), True, 2, warm
                ),
                4,
                None,
            )
            idle_rss = rss_bytes(server.pid)
            _, samples = await open_streams(
                lambda: _one_stream(
                    server, "/v1/responses", responses_body(prompt), True, words, through
                ),
                count,
                server.pid,
            )
    return figures(count, idle_rss, max(samples, default=0), through, direct)


def figures(count: int, idle_rss: int, peak_rss: int, tl: Outcome, direct: Outcome) -> list[Figure]:
    mib = 1024 * 1024
    label = f"fake upstream direct ({CHUNK_DELAY * 1000:g} ms between chunks)"
    per_stream = (peak_rss - idle_rss) / count / 1024
    many = count >= MANY
    rss_target = RSS_TARGET_MANY if many else RSS_TARGET
    p99 = percentile(tl.gaps, 99) if tl.gaps else None
    steady = tl.steady_gaps()
    return [
        Figure(
            "open_streams.rss",
            NAME,
            f"server RSS, peak with {count} open streams",
            peak_rss / mib,
            "MB",
            idle_rss / mib,
            "same server idle, before the streams",
            target=f"≤ {rss_target // mib:,} MB",
            met=peak_rss <= rss_target,
            note=f"{per_stream:,.0f} KiB per open stream",
        ),
        Figure(
            "open_streams.gap.p50",
            NAME,
            f"time between delta events, p50, {count} streams",
            ms(percentile(tl.gaps, 50)) if tl.gaps else None,
            "ms",
            ms(percentile(direct.gaps, 50)) if direct.gaps else None,
            label,
        ),
        Figure(
            "open_streams.gap.p99",
            NAME,
            f"time between delta events, p99, {count} streams",
            ms(p99) if p99 is not None else None,
            "ms",
            ms(percentile(direct.gaps, 99)) if direct.gaps else None,
            label,
            target=f"≤ {ms(CHUNK_DELAY + GAP_P99_TARGET_MANY):g} ms (20 over the upstream's)"
            if many
            else "",
            met=(p99 is not None and p99 - CHUNK_DELAY <= GAP_P99_TARGET_MANY) if many else None,
            note="" if p99 is None else f"{ms(p99 - CHUNK_DELAY):.1f} ms over the upstream's gap",
        ),
        Figure(
            "open_streams.gap.p99_steady",
            NAME,
            f"time between delta events, p99, {count} streams, once all were open",
            ms(percentile(steady, 99)) if steady else None,
            "ms",
            ms(percentile(direct.steady_gaps(), 99)) if direct.steady_gaps() else None,
            label,
            note=f"{len(steady):,} of {len(tl.gaps):,} gaps",
        ),
        Figure(
            "open_streams.completed",
            NAME,
            "streams completed with every event and their successful end",
            tl.completed,
            "streams",
            direct.completed,
            label,
            target=f"{count} of {count}",
            met=tl.completed == count,
            note=f"at most {tl.most_at_once():,} streaming at once",
        ),
    ]
