"""docs/performance.md: the figures table, the profile, the counts and the findings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.counters import KindCounts
from bench.findings import Finding
from bench.machine import Machine
from bench.profiling import ProfileRun
from bench.results import Figure

DISTURBED = 0.25
"""Cores of other processes' CPU use above which a benchmark's figures are flagged."""

HOW_TO_RUN = """\
```sh
.venv/bin/python -m bench                      # everything (~5 min), rewrites docs/performance.md
.venv/bin/python -m bench --quick              # smoke run (~1 min), writes bench/out/performance.md
.venv/bin/python -m bench --only throughput streaming     # some benchmarks
.venv/bin/python -m bench --postgres-url postgresql://user:pw@127.0.0.1/db
.venv/bin/python -m bench --rev HEAD           # measure a commit instead of the working tree
.venv/bin/python -m bench --save-baseline      # keep this run as the "Before" column
```
`wrk` (`apt-get install wrk`) is used as the load generator when installed, else
`bench.pyload`; py-spy (`pip install py-spy`) for the profile. Raw profiles, a flame graph and
the results as JSON are left in `bench/out/`.
"""


@dataclass(slots=True)
class Report:
    machine: Machine
    load_generator: str
    placement: str
    filesystem: str
    quick: bool
    fsync_ms: float
    figures: list[Figure] = field(default_factory=list)
    foreign_load: dict[str, float] = field(default_factory=dict)
    profile: ProfileRun | str | None = None
    counts: list[KindCounts] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    before: dict[str, Figure] = field(default_factory=dict)
    before_label: str = ""


def number(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("req/s", "B", "MB", "rows", "streams"):
        text = f"{value:,.0f}" if abs(value) >= 100 or unit != "rows" else f"{value:g}"
    elif unit == "x":
        return f"{value:.2f}x"
    elif unit == "%":
        return f"{value:.1f} %"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}"


def _met(figure: Figure) -> str:
    if figure.met is None:
        return ""
    return "yes" if figure.met else "**no**"


def _figures_tables(report: Report) -> list[str]:
    """One table per benchmark; the baseline most of its rows share is named above it."""
    lines: list[str] = []
    for benchmark in dict.fromkeys(f.benchmark for f in report.figures):
        figures = [f for f in report.figures if f.benchmark == benchmark]
        labels = Counter(f.baseline_label for f in figures if f.baseline_label)
        common = labels.most_common(1)[0][0] if labels else ""
        lines += [f"### {benchmark}", ""]
        if common:
            lines.append(f"Baseline: {common}.")
        lines += _disturbed(report, benchmark)[:1]
        head = "| Metric | Threadline | Baseline | Target | Met |"
        rule = "|---|---:|---:|---|---|"
        if report.before:
            head += " Before |"
            rule += "---:|"
        lines += ["", head, rule]
        for f in figures:
            value = number(f.value, f.unit) if f.value is not None else f.note
            baseline = number(f.baseline, f.unit) if f.baseline_label else ""
            if f.baseline_label and f.baseline_label != common:
                baseline += f" ({f.baseline_label})"
            metric = f.metric + (f" ({f.note})" if f.note and f.value is not None else "")
            row = f"| {metric} | {value} | {baseline} | {f.target} | {_met(f)} |"
            if report.before:
                old = report.before.get(f.key)
                row += f" {number(old.value, old.unit) if old is not None else ''} |"
            lines.append(row)
        lines.append("")
    return lines


def _shares(title: str, rows: Sequence[tuple[str, float]]) -> list[str]:
    lines = [f"| {title} | Share |", "|---|---:|"]
    lines += [f"| `{name}` | {share:.1%} |" for name, share in rows]
    return [*lines, ""]


def _disturbed(report: Report, key: str) -> list[str]:
    foreign = report.foreign_load.get(key)
    if foreign is None or foreign < DISTURBED:
        return []
    return [
        f"**Disturbed:** other processes kept {foreign:.2f} cores busy meanwhile, so these "
        "figures are pessimistic.",
        "",
    ]


def _profile(report: Report) -> list[str]:
    run = report.profile
    if run is None:
        return ["Not run in this invocation.", ""]
    if isinstance(run, str):
        return [f"Not run: {run}.", ""]
    lines = [
        f"Server under the benchmark-1 load (non-streaming, store on, c=16), sampled by py-spy "
        f"at 200 Hz for {run.seconds:g} s per recording. Throughput during the "
        f"recordings: {run.load.rps:,.0f} req/s (py-spy pauses the server for every "
        "sample). Shares are of the "
        f"event loop thread's samples taken while it held the GIL ({run.gil.samples} "
        f"samples; it held the GIL in ~{run.gil_busy:.0%} of the sampled time).",
        "",
        *_disturbed(report, "profile"),
        *_shares("Library (self time)", run.gil.by_package(12)),
        *_shares("Hottest functions (self time)", run.gil.self_time(15)),
        *_shares("Threadline functions (inclusive)", run.gil.inclusive(15, "threadline")),
    ]
    if run.native is not None:
        lines += [
            "Native view (`--native`, all samples of the event loop thread, C frames included):",
            "",
            *_shares("Function (self time)", run.native.self_time(10)),
        ]
    files = ", ".join(f"`{p.relative_to(p.parents[2])}`" for p in run.files)
    return [*lines, f"Files: {files}.", ""]


def _counts(report: Report) -> list[str]:
    if not report.counts:
        return ["Not run in this invocation.", ""]
    names = sorted({name for entry in report.counts for name in entry.per_request})
    head = "| Per request | " + " | ".join(e.kind for e in report.counts) + " |"
    lines = [
        f"Sequential requests ({report.counts[0].requests} of each kind, after a warm-up) to "
        "`bench.instrumented_server` (the same app with counters around SQLAlchemy, "
        "the SQLite store's threads, the thread pool, orjson and pydantic); upstream "
        "connections are counted from the kernel's TCP table.",
        "",
        head,
        "|---|" + "---:|" * len(report.counts),
    ]
    for name in names:
        cells = " | ".join(f"{e.per_request.get(name, 0):,.4g}" for e in report.counts)
        lines.append(f"| `{name}` | {cells} |")
    return [*lines, ""]


def _findings(report: Report) -> list[str]:
    if not report.findings:
        return ["No profile or counts in this invocation.", ""]
    lines = [
        "Ranked by the share of the event loop's samples spent in the frames involved: the "
        "most CPU each fix could give back on this CPU-bound server (shares overlap; they do "
        "not add up).",
        "",
    ]
    for i, finding in enumerate(report.findings, 1):
        lines += [
            f"{i}. **{finding.title}** — {finding.share:.1%} of samples.",
            f"   - Evidence: {finding.evidence}",
            f"   - Fix: {finding.proposal}",
        ]
    return [*lines, ""]


def render(report: Report) -> str:
    m = report.machine
    kind = "quick smoke run: indicative only" if report.quick else "full run"
    lines = [
        "# Performance",
        "",
        "Generated by `python -m bench` (see *How to run*); do not edit by hand, run it again.",
        "Benchmarks print figures; nothing here is a pass/fail test.",
        "",
        "| | |",
        "|---|---|",
        f"| Date | {m.date} ({kind}) |",
        f"| Code measured | {m.source} |",
        f"| Machine | {m.cores} cores ({m.cpu}) |",
        f"| Python, SQLite | {m.python}, {m.sqlite} on {report.filesystem} |",
        f"| Disk sync (4 KiB append + fdatasync, median) | {report.fsync_ms:.2f} ms: at most "
        f"{1000 / max(report.fsync_ms, 1e-3):,.0f} commits/s with `synchronous=FULL`; turns "
        "that end together share one (group commit) |",
        f"| Load generator | {report.load_generator} |",
        f"| CPU placement | {report.placement} |",
        "| Other processes | the machine is shared; each benchmark says when other processes "
        f"kept ≥ {DISTURBED} cores busy while it ran |",
        "",
        "## Figures",
        "",
        *_figures_tables(report),
    ]
    if report.before:
        lines += [f"*Before*: {report.before_label}.", ""]
    lines += [
        "## Profile: where the server's time goes",
        "",
        *_profile(report),
        "## Work per request",
        "",
        *_counts(report),
        "## Findings and proposed fixes, by expected gain",
        "",
        *_findings(report),
        "## How to run",
        "",
        HOW_TO_RUN,
    ]
    return "\n".join(lines)
