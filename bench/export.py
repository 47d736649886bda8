"""Benchmark 8: pipeline export (`threadline export`) of a SQLite database of 100,000 stored
responses (10,000 in a quick run), as a subprocess writing NDJSON to a file, as an operator
runs it. Memory must not grow with the export: its peak RSS is set against that of exporting a
tenth as many, from a database of the same size. Then 100 responses are deleted and 100 made,
and the export from the printed cursor must send exactly those 200 records.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.context import BenchContext
from bench.procs import spawn
from bench.results import Figure
from threadline.ids import new_id
from threadline.storage.base import ResponseRecord, TurnRecord
from threadline.storage.changes import FEED_START
from threadline.storage.sql import SqlStore

NAME = "8. Pipeline export (SQLite, `threadline export`)"
TARGET = 1.2
_BATCH = 200
_SMALL, _BIG = "small", "big"


async def run(ctx: BenchContext) -> list[Figure]:
    responses = ctx.count(100_000, 10_000)
    big = ctx.database("export-big")
    small = ctx.database("export-small")
    # The same database size for both runs: only what is exported differs (a tenant with a
    # tenth of the responses), so the difference in memory is the export's own.
    await _populate(big, {_BIG: responses, _SMALL: 0})
    await _populate(small, {_BIG: responses - responses // 10, _SMALL: responses // 10})
    tenth = _export(ctx, small, _SMALL, ctx.workdir / "small.ndjson")
    whole = _export(ctx, big, _BIG, ctx.workdir / "big.ndjson")
    changed = await _change(big, _BIG, 100)
    again = _export(ctx, big, _BIG, ctx.workdir / "again.ndjson", cursor=whole.cursor)
    if whole.records != responses or tenth.records != responses // 10:
        raise RuntimeError(f"exported {whole.records} and {tenth.records} records")
    if again.records != changed:
        raise RuntimeError(f"the export from the cursor sent {again.records}, not {changed}")
    ratio = whole.peak_rss / tenth.peak_rss
    return [
        Figure(
            "export.peak_rss",
            NAME,
            f"peak RSS exporting {responses:,} responses",
            whole.peak_rss / 2**20,
            "MB",
            baseline=tenth.peak_rss / 2**20,
            baseline_label=f"exporting {responses // 10:,} (same database size)",
            target=f"≤ {TARGET}x",
            met=ratio <= TARGET,
            note=f"ratio {ratio:.2f}",
        ),
        Figure(
            "export.rate",
            NAME,
            f"records per second exporting {responses:,} responses",
            whole.records / whole.seconds,
            "/s",
            note=f"{whole.seconds:.1f} s for {whole.bytes / 2**20:.0f} MB of NDJSON",
        ),
        Figure(
            "export.incremental",
            NAME,
            f"export from the cursor after {changed // 2} deletes and {changed // 2} new",
            again.seconds * 1000,
            "ms",
            baseline=whole.seconds * 1000,
            baseline_label="the full export",
            note=f"{again.records} records, exactly the changes",
        ),
    ]


@dataclass(frozen=True, slots=True)
class _Run:
    records: int
    seconds: float
    peak_rss: int
    cursor: str
    bytes: int


def _export(
    ctx: BenchContext, database: str, tenant: str, output: Path, cursor: str | None = None
) -> _Run:
    argv = [sys.executable, "-m", "threadline", "export", "--db", database, "--tenant", tenant]
    argv += ["-o", str(output)] + ([] if cursor is None else ["--cursor", cursor])
    log = ctx.workdir / f"export-{tenant}.log"
    log.unlink(missing_ok=True)
    started = time.perf_counter()
    process = spawn(argv, cpus=ctx.placement.server, log=log)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"threadline export exited {process.returncode}: {log.read_text()}")
    # "N records; cursor: tlx1_…" on standard error.
    last = log.read_text().split("cursor:")[-1].split()[0]
    records = sum(1 for _ in output.open("rb"))
    return _Run(records, seconds, usage.ru_maxrss * 1024, last, output.stat().st_size)


async def _populate(database: str, tenants: dict[str, int]) -> None:
    store = SqlStore(f"sqlite+aiosqlite:///{database}")
    await store.migrate()
    try:
        for tenant, count in tenants.items():
            for start in range(0, count, _BATCH):
                turns = [_turn(tenant, n) for n in range(start, min(count, start + _BATCH))]
                await asyncio.gather(*(store.save_turn(turn) for turn in turns))
    finally:
        await store.close()


async def _change(database: str, tenant: str, count: int) -> int:
    """Delete count/2 of the tenant's responses and make count/2 more; how many changed."""
    store = SqlStore(f"sqlite+aiosqlite:///{database}")
    try:
        page = await store.read_changes(tenant, after=FEED_START, since=None, limit=count // 2)
        for change in page.changes:
            await store.delete_response(tenant, change.key)
        for n in range(count // 2):
            await store.save_turn(_turn(tenant, 10_000_000 + n))
    finally:
        await store.close()
    return count


def _turn(tenant: str, n: int) -> TurnRecord:
    now = time.time()
    record = ResponseRecord(
        id=new_id("resp"),
        tenant=tenant,
        created_at=now,
        status="completed",
        model="fake-model",
        settings={"metadata": {"n": str(n)}},
        usage={"input_tokens": 12, "output_tokens": 30, "total_tokens": 42},
        completed_at=now,
    )
    question = {
        "id": new_id("msg"),
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": f"question {n}: " + "lorem ipsum " * 10}],
    }
    answer = {
        "id": new_id("msg"),
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [
            {"type": "output_text", "text": f"answer {n}: " + "dolor sit " * 30, "annotations": []}
        ],
    }
    return TurnRecord(record, [question], [answer])
