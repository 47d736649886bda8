"""Profile the server under the concurrency-16 load of benchmark 1, with py-spy.

py-spy samples the running server from outside (no change to the server, no import hook),
`--gil` keeps only the samples where a thread held the GIL, i.e. where Python work was done,
and `--native` shows what the event loop thread does in C. The raw stacks and an SVG flame
graph are kept in `bench/out/` for a closer look (speedscope.app reads the raw file).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.context import BenchContext
from bench.load import LoadResult, start_load
from bench.procs import ROOT, Service, start_fake, start_threadline
from bench.stacks import Profile, parse_collapsed
from bench.throughput import RESPONSES_BODY

OUT = ROOT / "bench" / "out"
RATE = 200


@dataclass(slots=True)
class ProfileRun:
    gil: Profile
    native: Profile | None
    seconds: float
    load: LoadResult
    files: list[Path] = field(default_factory=list)

    @property
    def gil_busy(self) -> float:
        """How much of the time the event loop thread held the GIL (samples / possible)."""
        return self.gil.samples / (RATE * self.seconds)


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _record(binary: str, pid: int, seconds: float, out: Path, *options: str) -> None:
    argv = [binary, "record", "--pid", str(pid), "--duration", str(round(seconds))]
    argv += ["--rate", str(RATE), "--threads", "--output", str(out), *options]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed ({done.returncode}): {done.stderr.strip()[-400:]}")


def run(ctx: BenchContext) -> ProfileRun | str:
    """The profile, or why it could not be taken."""
    binary = py_spy()
    if binary is None:
        return "py-spy is not installed (`.venv/bin/pip install py-spy`)"
    OUT.mkdir(parents=True, exist_ok=True)
    seconds = ctx.seconds(8, 3)
    with (
        start_fake(ctx.placement, ctx.workdir) as fake,
        start_threadline(ctx.placement, ctx.workdir, fake, ctx.database("profile")) as tl,
    ):
        return _profile(ctx, binary, tl, seconds)


def _profile(ctx: BenchContext, binary: str, server: Service, seconds: float) -> ProfileRun:
    warm_up = 2.0
    # One load run covers the warm-up and the three recordings made one after the other.
    total = warm_up + 3 * seconds + 3
    load = start_load(
        ctx.placement,
        f"{server.url}/v1/responses",
        RESPONSES_BODY,
        concurrency=16,
        seconds=total,
        logs=ctx.workdir,
    )
    time.sleep(warm_up)
    gil, native, svg = OUT / "profile-gil.txt", OUT / "profile-native.txt", OUT / "profile.svg"
    # Blocking sampling (py-spy pauses the server for each sample): slower, but without it
    # stacks read while the server runs come out truncated and mislead inclusive shares.
    _record(binary, server.pid, seconds, gil, "--format", "raw", "--gil")
    native_profile: Profile | None = None
    try:
        _record(binary, server.pid, seconds, native, "--format", "raw", "--native")
        native_profile = parse_collapsed(native.read_text())
    except RuntimeError as exc:
        print(f"  (no native profile: {exc})", flush=True)
    _record(binary, server.pid, seconds, svg, "--format", "flamegraph", "--gil")
    result = load.result()
    return ProfileRun(
        gil=parse_collapsed(gil.read_text()),
        native=native_profile,
        seconds=seconds,
        load=result,
        files=[p for p in (gil, native, svg) if p.exists()],
    )
