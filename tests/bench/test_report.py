"""What the bench concludes and writes: findings only for measured symptoms, every figure shown."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench.counters import KindCounts
from bench.findings import analyse
from bench.footprint import measure
from bench.machine import Machine
from bench.report import Report, render
from bench.results import Figure, not_run


def _counts(**per_request: float) -> list[KindCounts]:
    return [KindCounts("create, store: true", 10, dict(per_request))]


def test_a_connection_per_request_is_reported_and_a_reused_one_is_not() -> None:
    titles = [f.title for f in analyse(None, _counts(**{"upstream.connections_opened": 1.0}))]
    assert "A new upstream connection for every turn" in titles
    titles = [f.title for f in analyse(None, _counts(**{"upstream.connections_opened": 0.05}))]
    assert "A new upstream connection for every turn" not in titles


def test_thread_pool_calls_are_named_in_the_evidence() -> None:
    findings = analyse(None, _counts(**{"threadpool.services": 1.0}))
    pool = next(f for f in findings if "thread pool" in f.title)
    assert "`services` 1" in pool.evidence


def _report(figures: list[Figure], before: dict[str, Figure] | None = None) -> Report:
    machine = Machine(2, "cpu", "3.11", "3.40", "today", "abc", "working tree at abc")
    return Report(
        machine=machine,
        load_generator="wrk",
        placement="pinned",
        filesystem="ext4",
        quick=False,
        fsync_ms=0.5,
        figures=figures,
        foreign_load={"1. Bench": 1.5},
        before=before or {},
        before_label="commit abc",
    )


def test_the_table_shows_value_baseline_target_and_verdict() -> None:
    figure = Figure(
        "t.rps", "1. Bench", "throughput", 250.0, "req/s", 5000.0, "direct", "≥ 1,000", False
    )
    text = render(_report([figure]))
    assert "### 1. Bench\n\nBaseline: direct." in text
    assert "| throughput | 250 req/s | 5,000 req/s | ≥ 1,000 | **no** |" in text
    assert "Before" not in text.split("## Figures")[1].split("## ")[0]


def test_a_benchmark_run_next_to_busy_processes_is_flagged() -> None:
    figure = Figure("t.rps", "1. Bench", "throughput", 250.0, "req/s")
    assert "other processes kept 1.50 cores busy" in render(_report([figure]))


def test_figures_not_run_say_why_and_earlier_figures_fill_the_before_column() -> None:
    skipped = not_run("pg.rps", "5. PostgreSQL", "throughput", "req/s", "no PostgreSQL URL")
    now = Figure("t.rps", "1. Bench", "throughput", 900.0, "req/s")
    text = render(
        _report([now, skipped], before={"t.rps": Figure("t.rps", "", "", 250.0, "req/s")})
    )
    assert "not run (no PostgreSQL URL)" in text
    assert "| throughput | 900 req/s |  |  |  | 250 req/s |" in text


def test_footprint_counts_rows_and_payload_added(tmp_path: Path) -> None:
    path = str(tmp_path / "f.db")
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE items (data TEXT)")
    before = measure(path)
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO items VALUES (?)", [("x" * 100,)] * 3)
    added = measure(path) - before
    assert added.rows == {"items": 3}
    assert added.payload_bytes >= 300
