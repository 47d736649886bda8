"""Facts about the machine and the code measured, and how busy other processes kept the CPUs.

The machine is shared: other people's builds and tests run next to the benchmarks. Each
benchmark therefore records the CPU time that processes other than ours used meanwhile, so a
reader can tell a slow figure from a busy machine.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlean  # type: ignore[import-untyped]

from bench.procs import ROOT, descendants


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
    )
    return done.stdout.strip()


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def filesystem_of(path: Path) -> str:
    best, kind = "", "unknown"
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        mount, fstype = fields[1], fields[2]
        if str(path.resolve()).startswith(mount) and len(mount) > len(best):
            best, kind = mount, fstype
    return kind


@dataclass(frozen=True, slots=True)
class Machine:
    cores: int
    cpu: str
    python: str
    sqlite: str
    date: str
    commit: str
    source: str

    @classmethod
    def describe(cls, source_rev: str | None) -> Machine:
        commit = _git("rev-parse", "--short", "HEAD")
        if source_rev is not None:
            source = f"commit {_git('rev-parse', '--short', source_rev)} (`--rev {source_rev}`)"
        else:
            dirty = _git("status", "--porcelain", "--", "src")
            source = f"working tree at {commit}" + (
                " with uncommitted changes in src/" if dirty else ""
            )
        return cls(
            cores=os.cpu_count() or 0,
            cpu=cpu_model(),
            python=sys.version.split()[0],
            sqlite=sqlean.sqlite_version,  # the store's SQLite (storage/sql/engines.py)
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            commit=commit,
            source=source,
        )


def _busy_ticks() -> int:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return user + nice + system + irq + softirq + steal


def _our_ticks() -> int:
    """CPU ticks of this process, its finished children and its running descendants."""
    total = 0
    pids = [os.getpid(), *descendants(os.getpid())]
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        utime, stime, cutime, cstime = (int(x) for x in stat[11:15])
        total += utime + stime + (cutime + cstime if pid == os.getpid() else 0)
    return total


class ForeignLoad:
    """Measures the CPU that other processes used while a benchmark ran, in cores."""

    def __init__(self) -> None:
        self._ticks_per_s = os.sysconf("SC_CLK_TCK")
        self._start = self._sample()

    def _sample(self) -> tuple[float, int, int]:
        return time.monotonic(), _busy_ticks(), _our_ticks()

    def cores(self) -> float:
        """Average number of cores other processes kept busy since construction."""
        then, busy0, ours0 = self._start
        now, busy1, ours1 = self._sample()
        elapsed = max(now - then, 1e-9)
        foreign = (busy1 - busy0) - (ours1 - ours0)
        return max(0.0, foreign / self._ticks_per_s / elapsed)


def fsync_seconds(directory: Path, count: int = 100) -> float:
    """Median time of a 4 KiB append plus `fdatasync` in `directory`: what every SQLite
    commit waits for in WAL mode with `synchronous=FULL`."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    times: list[float] = []
    try:
        block = bytes(4096)
        for _ in range(count):
            started = time.perf_counter()
            os.write(fd, block)
            os.fdatasync(fd)
            times.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return sorted(times)[len(times) // 2]
