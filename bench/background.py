"""Benchmark 6: background responses (SQLite). A thousand jobs queued at once drain with none
lost; how long a job waits in the queue at idle; how soon a stream is resumed.

- Created and run: N `background: true` creates sent by 16 connections, then the database is
  watched until every job ended. Figures: jobs completed (of N), the rate (the creates and the
  runs share the one process), and the same number of ordinary (foreground) turns over the same
  connections as the baseline, in the same run.
- Queued, then drained (issue 20's target): a queue-only process (`background_concurrency =
  0`) takes the N creates; then a second process starts on the same database and runs them.
  The rate is N-1 over the time from the first job's end to the last's (`completed_at`, so
  neither process's start-up counts); the baseline is N foreground turns on that second process
  afterwards.
- Queued → in_progress at idle: a streamed background create, from sending it to its
  `response.in_progress` event (the job was stored, taken by the worker and started); the
  baseline is a foreground stream's `response.in_progress`.
- Resume: `GET /v1/responses/{id}?stream=true&starting_after=2` of an ended job, to its last
  event (the events are read back from the database); the baseline is `GET /v1/responses/{id}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import orjson
import sqlean  # type: ignore[import-untyped]  # the server's SQLite (bench/footprint.py)

from bench.context import MODEL, BenchContext
from bench.http1 import HttpConnection
from bench.procs import Service, start_fake, start_threadline
from bench.results import Figure, median, ms
from threadline.settings import Settings

NAME = "6. Background responses (SQLite)"
_CONCURRENCY = Settings.model_fields["background_concurrency"].default
"""Jobs the server runs at once: its default."""
LANES = 16


async def _send_all(server: Service, bodies: list[bytes]) -> list[str]:
    """POST every body over LANES connections; the response ids, in no particular order."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    ids: list[str] = []

    async def lane() -> None:
        connection = await HttpConnection.open("127.0.0.1", server.port)
        try:
            while not queue.empty():
                reply = await connection.request("POST", "/v1/responses", queue.get_nowait())
                if reply.status != 200:
                    raise RuntimeError(f"create answered {reply.status}: {reply.body[:200]!r}")
                ids.append(orjson.loads(reply.body)["id"])
        finally:
            await connection.close()

    await asyncio.gather(*(lane() for _ in range(LANES)))
    return ids


def _count_ended(database: str, ids: list[str]) -> int:
    with contextlib.closing(sqlean.connect(database)) as db:
        db.execute("CREATE TEMP TABLE wanted (id TEXT PRIMARY KEY)")
        db.executemany("INSERT INTO wanted VALUES (?)", [(i,) for i in ids])
        found = db.execute(
            "SELECT count(*) FROM responses JOIN wanted USING (id) WHERE status = 'completed'"
        ).fetchone()
    return int(found[0])


async def _drain(server: Service, database: str, jobs: int) -> tuple[float, int]:
    bodies = [
        orjson.dumps({"model": MODEL, "input": f"job {n}", "background": True}) for n in range(jobs)
    ]
    started = time.perf_counter()
    ids = await _send_all(server, bodies)
    deadline = started + 600
    while (done := _count_ended(database, ids)) < jobs and time.perf_counter() < deadline:  # noqa: ASYNC110 (the database is another process's)
        await asyncio.sleep(0.05)
    return time.perf_counter() - started, done


def _completion_span(database: str, ids: list[str]) -> float:
    """Seconds from the first of these responses' end to the last's."""
    with contextlib.closing(sqlean.connect(database)) as db:
        db.execute("CREATE TEMP TABLE wanted (id TEXT PRIMARY KEY)")
        db.executemany("INSERT INTO wanted VALUES (?)", [(i,) for i in ids])
        first, last = db.execute(
            "SELECT min(completed_at), max(completed_at) FROM responses JOIN wanted USING (id)"
        ).fetchone()
    return float(last - first)


async def _queued_then_drained(ctx: BenchContext, fake: Service, jobs: int) -> tuple[float, float]:
    """Jobs per second of a worker draining a full queue, and foreground turns per second on
    the same worker afterwards."""
    database = ctx.database("background-queued")
    bodies = [
        orjson.dumps({"model": MODEL, "input": f"queued {n}", "background": True})
        for n in range(jobs)
    ]
    queue_only = {"THREADLINE_BACKGROUND_CONCURRENCY": "0"}
    with start_threadline(ctx.placement, ctx.workdir, fake, database, env=queue_only) as api:
        ids = await _send_all(api, bodies)
        with start_threadline(ctx.placement, ctx.workdir, fake, database) as worker:
            deadline = time.perf_counter() + 600
            while _count_ended(database, ids) < jobs:
                if time.perf_counter() > deadline:
                    raise RuntimeError("the queued jobs did not all end within 600 s")
                await asyncio.sleep(0.02)
            await _foreground(worker, 50)  # warm-up
            foreground = await _foreground(worker, jobs)
    return (jobs - 1) / _completion_span(database, ids), jobs / foreground


async def _foreground(server: Service, turns: int) -> float:
    bodies = [orjson.dumps({"model": MODEL, "input": f"turn {n}"}) for n in range(turns)]
    started = time.perf_counter()
    await _send_all(server, bodies)
    return time.perf_counter() - started


async def _until_marker(
    connection: HttpConnection, method: str, path: str, body: bytes | None, marker: bytes
) -> tuple[float, bytes]:
    """Seconds from sending the request to the first piece holding `marker`; the body."""
    seen: list[float] = []
    pieces: list[bytes] = []
    started = time.perf_counter()

    def sink(piece: bytes, now: float) -> None:
        pieces.append(piece)
        if not seen and marker in b"".join(pieces[-2:]):
            seen.append(now)

    await connection.request(method, path, body, sink=sink)
    if not seen:
        raise RuntimeError(f"{marker!r} never came: {b''.join(pieces)[:300]!r}")
    return seen[0] - started, b"".join(pieces)


async def _queue_wait(server: Service, rounds: int) -> tuple[list[float], list[float], list[str]]:
    background: list[float] = []
    foreground: list[float] = []
    ids: list[str] = []
    connection = await HttpConnection.open("127.0.0.1", server.port)
    try:
        for n in range(rounds + 2):  # the first two of each are warm-up
            body = orjson.dumps({"model": MODEL, "input": f"long 20 {n}", "stream": True})
            waited, _ = await _until_marker(
                connection, "POST", "/v1/responses", body, b"response.in_progress"
            )
            body = orjson.dumps(
                {"model": MODEL, "input": f"long 20 {n}", "stream": True, "background": True}
            )
            queued, events = await _until_marker(
                connection, "POST", "/v1/responses", body, b"response.in_progress"
            )
            if n >= 2:
                foreground.append(waited)
                background.append(queued)
            first = events.split(b"\ndata: ", 1)[1].split(b"\n", 1)[0]
            ids.append(orjson.loads(first)["response"]["id"])
    finally:
        await connection.close()
    return background, foreground, ids


async def _resume(server: Service, ids: list[str]) -> tuple[list[float], list[float]]:
    resumed: list[float] = []
    retrieved: list[float] = []
    connection = await HttpConnection.open("127.0.0.1", server.port)
    try:
        for response_id in ids:
            path = f"/v1/responses/{response_id}?stream=true&starting_after=2"
            took, _ = await _until_marker(connection, "GET", path, None, b"response.completed")
            resumed.append(took)
            started = time.perf_counter()
            reply = await connection.request("GET", f"/v1/responses/{response_id}")
            retrieved.append(time.perf_counter() - started)
            if reply.status != 200:
                raise RuntimeError(f"retrieve answered {reply.status}")
    finally:
        await connection.close()
    return resumed, retrieved


async def run(ctx: BenchContext) -> list[Figure]:
    jobs = ctx.count(1000, 100)
    rounds = ctx.count(30, 8)
    with start_fake(ctx.placement, ctx.workdir) as fake:
        database = ctx.database("background")
        with start_threadline(ctx.placement, ctx.workdir, fake, database) as server:
            await _foreground(server, 50)  # warm-up
            foreground = await _foreground(server, jobs)
            drained, done = await _drain(server, database, jobs)
            background, streamed, ids = await _queue_wait(server, rounds)
            resumed, retrieved = await _resume(server, ids)
        queued_rate, worker_foreground = await _queued_then_drained(ctx, fake, jobs)
    rate, baseline_rate = jobs / drained, jobs / foreground
    return [
        Figure(
            "background.drain.completed",
            NAME,
            f"{jobs} background jobs queued at once: completed",
            done,
            "jobs",
            target=f"all {jobs}, none lost",
            met=done == jobs,
        ),
        Figure(
            "background.drain.rate",
            NAME,
            f"{jobs} jobs created and run by one process ({_CONCURRENCY} at a time): jobs "
            "per second",
            rate,
            "/s",
            baseline=baseline_rate,
            baseline_label=f"the same number of foreground turns, {LANES} connections",
            note=f"all ended {drained:.1f} s after the first create; ratio "
            f"{rate / baseline_rate:.2f}",
        ),
        Figure(
            "background.queued_drain.rate",
            NAME,
            f"{jobs} jobs already queued, drained by a worker process ({_CONCURRENCY} at a "
            "time): jobs per second",
            queued_rate,
            "/s",
            baseline=worker_foreground,
            baseline_label=f"the same number of foreground turns on that process, {LANES} "
            "connections",
            target="≥ 0.8x (issue 20)",
            met=queued_rate >= 0.8 * worker_foreground,
            note=f"ratio {queued_rate / worker_foreground:.2f}; queued by a queue-only process",
        ),
        Figure(
            "background.queued_to_in_progress",
            NAME,
            "streamed background create → response.in_progress, idle (median)",
            ms(median(background)),
            "ms",
            baseline=ms(median(streamed)),
            baseline_label="foreground stream → response.in_progress",
        ),
        Figure(
            "background.resume",
            NAME,
            "resume an ended job's stream (starting_after=2) to its last event (median)",
            ms(median(resumed)),
            "ms",
            baseline=ms(median(retrieved)),
            baseline_label="GET /v1/responses/{id}",
        ),
    ]
