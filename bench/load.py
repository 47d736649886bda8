"""Closed-loop HTTP load from its own process: `wrk` when installed, else `bench.pyload`.

Either way the load generator is a separate process pinned to the load CPUs, one thread,
`concurrency` keep-alive connections each sending the next POST as soon as the previous answer
is read in full, and it reports the count, p50 and p99 of full-response latency.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.procs import ROOT, Placement, spawn

_WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = io.open(os.getenv("BENCH_BODY_FILE"), "rb")
wrk.body = file:read("*a")
file:close()

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_s": %.6f, "p50_ms": %.3f, "p99_ms": %.3f, '
    .. '"errors": %d, "non_2xx": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@dataclass(slots=True)
class LoadResult:
    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    non_2xx: int

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.non_2xx == 0 and self.requests > 0


def generator_name() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        return "bench.pyload (Python asyncio, 1 process; `wrk` not installed)"
    done = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    version = (done.stdout + done.stderr).split("Copyright")[0].strip()
    return f"{version} (-t1, 1 thread)"


def run_load(
    placement: Placement,
    url: str,
    body: bytes,
    *,
    concurrency: int,
    seconds: float,
    logs: Path,
) -> LoadResult:
    """POST `body` to `url` from `concurrency` connections for `seconds`."""
    return start_load(
        placement, url, body, concurrency=concurrency, seconds=seconds, logs=logs
    ).result()


class RunningLoad:
    """A load generator process under way; `result()` waits for its figures."""

    def __init__(self, process: subprocess.Popen[bytes], body_file: Path, seconds: float):
        self._process = process
        self._body_file = body_file
        self._seconds = seconds

    def result(self) -> LoadResult:
        try:
            out, _ = self._process.communicate(timeout=self._seconds + 120)
        finally:
            self._body_file.unlink(missing_ok=True)
        for line in out.decode().splitlines():
            if line.startswith("BENCH "):
                return LoadResult(**json.loads(line.removeprefix("BENCH ")))
        raise RuntimeError(f"the load generator printed no result: {out.decode()[-500:]!r}")


def start_load(
    placement: Placement,
    url: str,
    body: bytes,
    *,
    concurrency: int,
    seconds: float,
    logs: Path,
) -> RunningLoad:
    with tempfile.NamedTemporaryFile("wb", suffix=".json", dir=logs, delete=False) as file:
        file.write(body)
    wrk = shutil.which("wrk")
    if wrk is not None:
        script = logs / "post.lua"
        script.write_text(_WRK_SCRIPT)
        argv = [
            wrk,
            "-t1",
            f"-c{concurrency}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            url,
        ]
    else:
        argv = [
            sys.executable,
            "-m",
            "bench.pyload",
            url,
            "--concurrency",
            str(concurrency),
            "--seconds",
            str(seconds),
        ]
    env = {**os.environ, "BENCH_BODY_FILE": file.name, "PYTHONPATH": str(ROOT)}
    process = spawn(argv, cpus=placement.load, env=env, stdout=subprocess.PIPE)
    return RunningLoad(process, Path(file.name), seconds)
