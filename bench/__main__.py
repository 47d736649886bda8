"""`python -m bench`: run the benchmarks, print the figures, write docs/performance.md."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
import traceback
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import uvloop

from bench import (
    background,
    chains,
    compaction,
    counters,
    encryption,
    export,
    findings,
    open_streams,
    postgres,
    profiling,
    streaming,
    throughput,
    usage,
    vector_stores,
)
from bench.context import BenchContext
from bench.load import generator_name
from bench.machine import ForeignLoad, Machine, filesystem_of, fsync_seconds
from bench.pg_database import fresh_database
from bench.procs import ROOT, Placement, raise_fd_limit
from bench.report import Report, number, render
from bench.results import Figure, not_run

BENCHMARKS = (
    "throughput",
    "streaming",
    "chains",
    "open-streams",
    "postgres",
    "background",
    "compaction",
    "export",
    "vectors",
    "usage",
    "encryption",
    "profile",
)
OUT = ROOT / "bench" / "out"
BASELINE = ROOT / "bench" / "baseline.json"
DOCS = ROOT / "docs" / "performance.md"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short smoke run (about 1 min)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("THREADLINE_TEST_POSTGRES_URL"),
        help="PostgreSQL database for benchmark 5 (default $THREADLINE_TEST_POSTGRES_URL)",
    )
    parser.add_argument(
        "--open-streams",
        type=int,
        metavar="N",
        help="streams benchmark 4 opens at once (default 500; issue 20's target is 10,000)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--rev", help="measure this git revision's src/ instead of the tree")
    parser.add_argument(
        "--output", type=Path, help="report path (default: docs/performance.md for a full run)"
    )
    parser.add_argument(
        "--save-baseline", action="store_true", help=f"keep the figures in {BASELINE.name}"
    )
    return parser.parse_args()


def _use_revision(rev: str, workdir: Path) -> None:
    """Put `rev`'s src/ first on the path of every process this run starts."""
    target = workdir / "source"
    target.mkdir()
    archive = subprocess.run(
        ["git", "archive", rev, "src"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    paths = [str(target / "src"), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)


def _run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    return uvloop.run(coro)


def _print(figures: list[Figure]) -> None:
    for f in figures:
        value = number(f.value, f.unit) if f.value is not None else f.note
        base = f"  [{f.baseline_label}: {number(f.baseline, f.unit)}]" if f.baseline_label else ""
        verdict = "" if f.met is None else ("  ok" if f.met else "  MISSED " + f.target)
        print(f"  {f.metric}: {value}{base}{verdict}", flush=True)


def _guarded(name: str, key: str, work: Callable[[], list[Figure]]) -> list[Figure]:
    try:
        return work()
    except Exception as exc:
        traceback.print_exc()
        return [not_run(key, name, "(benchmark failed)", "", f"failed: {exc}")]


def main() -> None:
    args = _arguments()
    selected = args.only or list(BENCHMARKS)
    full = not args.quick and args.only is None
    output = args.output or (DOCS if full else OUT / "performance.md")
    placement = Placement.choose(not args.no_pin)
    placement.pin_self_to_load()
    raise_fd_limit()
    OUT.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="threadline-bench-"))
    if args.rev:
        _use_revision(args.rev, workdir)
    postgres_database = (
        fresh_database(args.postgres_url) if args.postgres_url else contextlib.nullcontext(None)
    )
    stack = contextlib.ExitStack()
    postgres_url = stack.enter_context(postgres_database)
    ctx = BenchContext(placement, workdir, args.quick, postgres_url, args.open_streams)
    report = Report(
        machine=Machine.describe(args.rev),
        load_generator=generator_name(),
        placement=placement.describe(),
        filesystem=filesystem_of(workdir),
        quick=args.quick,
        fsync_ms=fsync_seconds(workdir) * 1000,
    )
    print(f"{report.machine.cores} cores; {report.placement}; {report.machine.source}")
    runs: dict[str, tuple[str, Callable[[], list[Figure]]]] = {
        "throughput": (throughput.NAME, lambda: throughput.run(ctx)),
        "streaming": (streaming.NAME, lambda: _run_async(streaming.run(ctx))),
        "chains": (chains.NAME, lambda: _run_async(chains.run(ctx))),
        "open-streams": (open_streams.NAME, lambda: _run_async(open_streams.run(ctx))),
        "postgres": (postgres.NAME, lambda: postgres.run(ctx)),
        "background": (background.NAME, lambda: _run_async(background.run(ctx))),
        "compaction": (compaction.NAME, lambda: _run_async(compaction.run(ctx))),
        "export": (export.NAME, lambda: _run_async(export.run(ctx))),
        "vectors": (vector_stores.NAME, lambda: _run_async(vector_stores.run(ctx))),
        "usage": (usage.NAME, lambda: _run_async(usage.run(ctx))),
        "encryption": (encryption.NAME, lambda: _run_async(encryption.run(ctx))),
    }
    try:
        for name in selected:
            if name == "profile":
                continue
            title, work = runs[name]
            print(title, flush=True)
            meter = ForeignLoad()
            figures = _guarded(title, name, work)
            report.foreign_load[title] = meter.cores()
            _print(figures)
            report.figures += figures
        if "profile" in selected:
            print("Profile and counts", flush=True)
            meter = ForeignLoad()
            report.profile = profiling.run(ctx)
            report.foreign_load["profile"] = meter.cores()
            report.counts = _run_async(counters.run(ctx))
            profile = report.profile if not isinstance(report.profile, str) else None
            report.findings = findings.analyse(profile, report.counts)
            for i, finding in enumerate(report.findings, 1):
                print(f"  {i}. {finding.title} ({finding.share:.1%})", flush=True)
    finally:
        stack.close()
        shutil.rmtree(workdir, ignore_errors=True)
    _compare(report)
    results = {
        "machine": dataclasses.asdict(report.machine),
        "date": report.machine.date,
        "source": report.machine.source,
        "quick": args.quick,
        "figures": [f.to_json() for f in report.figures],
    }
    (OUT / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    if args.save_baseline:
        BASELINE.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(report))
    print(f"wrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")


def _compare(report: Report) -> None:
    if not BASELINE.exists():
        return
    saved = json.loads(BASELINE.read_text())
    report.before = {f["key"]: Figure.from_json(f) for f in saved.get("figures", [])}
    report.before_label = f"{saved.get('source', '?')}, {saved.get('date', '?')} ({BASELINE.name})"


if __name__ == "__main__":
    main()
