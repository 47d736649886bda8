"""Benchmark 2: streaming. Time to first token and time between events, Threadline vs direct.

The fake upstream waits `CHUNK_DELAY` before each chunk, so content arrives spaced out. Time
to first token is from sending the request to the first `response.output_text.delta` (through
Threadline) or the first chunk with non-empty content (direct). A server that buffered events
would deliver several deltas at once: gaps far below the upstream's spacing give it away.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import orjson

from bench.context import MODEL, BenchContext
from bench.http1 import (
    THREADLINE_DELTA,
    THREADLINE_DELTA_WIDTH,
    UPSTREAM_CONTENT,
    UPSTREAM_CONTENT_WIDTH,
    HttpConnection,
    MarkerClock,
)
from bench.procs import Service, start_fake, start_threadline
from bench.results import Figure, median, ms, percentile

NAME = "2. Streaming"
CHUNK_DELAY = 0.005
WORDS = 20
BUNCHED = CHUNK_DELAY / 5
"""A delta this soon after the previous one was not spaced like the upstream's chunks."""


def responses_body(prompt: str) -> bytes:
    return orjson.dumps({"model": MODEL, "input": prompt, "stream": True, "store": True})


def upstream_body(prompt: str) -> bytes:
    return orjson.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": prompt}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )


@dataclass(slots=True)
class StreamTimings:
    ttft: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)

    def add(self, sent: float, marks: list[float], expected: int) -> None:
        if len(marks) != expected:
            raise RuntimeError(f"expected {expected} content events, saw {len(marks)}")
        self.ttft.append(marks[0] - sent)
        self.gaps += [b - a for a, b in itertools.pairwise(marks)]

    @property
    def bunched(self) -> float:
        return sum(gap < BUNCHED for gap in self.gaps) / len(self.gaps)


async def stream_many(
    service: Service, path: str, body: bytes, through_threadline: bool, count: int
) -> StreamTimings:
    timings = StreamTimings()
    connection = await HttpConnection.open("127.0.0.1", service.port)
    try:
        for i in range(count + 3):  # the first three warm up connections and caches
            clock = (
                MarkerClock(THREADLINE_DELTA, THREADLINE_DELTA_WIDTH)
                if through_threadline
                else MarkerClock(UPSTREAM_CONTENT, UPSTREAM_CONTENT_WIDTH)
            )
            sent = time.perf_counter()
            reply = await connection.request("POST", path, body, clock.feed)
            if reply.status != 200:
                raise RuntimeError(f"{path} answered {reply.status}")
            if i >= 3:
                timings.add(sent, clock.times, WORDS)
    finally:
        await connection.close()
    return timings


async def run(ctx: BenchContext) -> list[Figure]:
    prompt = f"long {WORDS}"
    count = ctx.count(100, 20)
    with start_fake(ctx.placement, ctx.workdir, chunk_delay=CHUNK_DELAY) as fake:
        direct = await stream_many(
            fake, "/v1/chat/completions", upstream_body(prompt), False, count
        )
        with start_threadline(ctx.placement, ctx.workdir, fake, ctx.database("streaming")) as tl:
            through = await stream_many(tl, "/v1/responses", responses_body(prompt), True, count)
    return figures(through, direct)


def figures(tl: StreamTimings, direct: StreamTimings) -> list[Figure]:
    label = f"fake upstream direct ({CHUNK_DELAY * 1000:g} ms between chunks)"
    ttft_added = ms(median(tl.ttft) - median(direct.ttft))
    no_buffering = tl.bunched <= direct.bunched + 0.05
    return [
        Figure(
            "streaming.ttft.p50",
            NAME,
            "time to first token, p50",
            ms(median(tl.ttft)),
            "ms",
            ms(median(direct.ttft)),
            label,
            target="within 0.5 ms of direct (issue 20)",
            met=ttft_added <= 0.5,
            note=f"+{ttft_added:.2f} ms",
        ),
        Figure(
            "streaming.ttft.p99",
            NAME,
            "time to first token, p99",
            ms(percentile(tl.ttft, 99)),
            "ms",
            ms(percentile(direct.ttft, 99)),
            label,
        ),
        Figure(
            "streaming.gap.p50",
            NAME,
            "time between delta events, p50",
            ms(median(tl.gaps)),
            "ms",
            ms(median(direct.gaps)),
            label,
        ),
        Figure(
            "streaming.gap.p99",
            NAME,
            "time between delta events, p99",
            ms(percentile(tl.gaps, 99)),
            "ms",
            ms(percentile(direct.gaps, 99)),
            label,
        ),
        Figure(
            "streaming.bunched",
            NAME,
            f"deltas arriving < {BUNCHED * 1000:g} ms after the previous (buffering)",
            100 * tl.bunched,
            "%",
            100 * direct.bunched,
            label,
            target="no buffering",
            met=no_buffering,
        ),
    ]
