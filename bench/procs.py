"""The processes a benchmark runs: the fake upstream, Threadline, and where each may run.

Every process is its own OS process, pinned to a CPU set chosen by `Placement`, so the load
generator and the fake upstream do not steal the core Threadline is measured on.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
FD_LIMIT = 16_384


@dataclass(frozen=True, slots=True)
class Placement:
    """Which CPUs the server and everything else (fake upstream, load, bench client) use."""

    server: frozenset[int] | None
    load: frozenset[int] | None

    @classmethod
    def choose(cls, pin: bool) -> Placement:
        cpus = sorted(os.sched_getaffinity(0))
        if not pin or len(cpus) < 2:
            return cls(None, None)
        # The server gets half the CPUs (one on a 2-core machine); it is one process with one
        # event loop, so a second core would mostly serve the fake and the load generator.
        half = max(1, len(cpus) // 2)
        return cls(frozenset(cpus[:half]), frozenset(cpus[half:]))

    def describe(self) -> str:
        if self.server is None or self.load is None:
            return "not pinned: server, fake upstream and load generator share all CPUs"
        return (
            f"Threadline pinned to CPU {_cpus(self.server)}; fake upstream, load generator "
            f"and bench client pinned to CPU {_cpus(self.load)}"
        )

    def pin_self_to_load(self) -> None:
        if self.load is not None:
            os.sched_setaffinity(0, self.load)


def _cpus(cpus: frozenset[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FD_LIMIT if hard == resource.RLIM_INFINITY else min(FD_LIMIT, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


# Every CPU this machine lets us use, read before the bench pins itself to its load CPUs: a
# process spawned "not pinned" gets all of them, not the bench's own affinity, which it would
# otherwise inherit (until stop 40, every "not pinned" server ran on the load CPU only).
ALL_CPUS = frozenset(os.sched_getaffinity(0))


def spawn(
    argv: Sequence[str],
    *,
    cpus: frozenset[int] | None,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    stdout: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` on `cpus`, or on every CPU if None (through taskset, so every thread it ever
    starts stays there). Children inherit the raised file-descriptor limit of this process."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child keeps it
    prefix = ["taskset", "--cpu-list", _cpus(ALL_CPUS if cpus is None else cpus)]
    return subprocess.Popen(
        [*prefix, *argv],
        cwd=ROOT,
        env=env,
        stdout=stdout if stdout is not None else out,
        stderr=out,
    )


def wait_http_ok(url: str, process: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    raise RuntimeError(f"{what} was not ready within {timeout:.0f} s ({url})")


def stop(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Service:
    """A child process serving HTTP on a loopback port, stopped on exit."""

    def __init__(self, name: str, port: int, process: subprocess.Popen[bytes]) -> None:
        self.name = name
        self.port = port
        self.process = process

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop(self.process)

    def __enter__(self) -> Service:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_fake(placement: Placement, logs: Path, chunk_delay: float = 0.0) -> Service:
    port = free_port()
    argv = [sys.executable, "-m", "tests.fake_upstream", "--port", str(port)]
    if chunk_delay:
        argv += ["--chunk-delay", str(chunk_delay)]
    process = spawn(argv, cpus=placement.load, log=logs / f"fake-{port}.log")
    service = Service("fake upstream", port, process)
    try:
        wait_http_ok(f"{service.url}/v1/models", process, "the fake upstream", 20)
    except BaseException:
        service.stop()
        raise
    return service


def server_env(upstream: Service, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"{upstream.url}/v1",
        "OPENAI_API_KEY": "bench-upstream-key",
        "THREADLINE_SHUTDOWN_GRACE_SECONDS": "3",
        **(extra or {}),
    }
    env.pop("THREADLINE_CONFIG", None)
    return env


def start_threadline(
    placement: Placement,
    logs: Path,
    upstream: Service,
    database: str,
    *,
    module: str = "threadline",
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Service:
    """`python -m threadline serve` (or a drop-in replacement `module`) on a free port."""
    port = free_port()
    argv = [sys.executable, "-m", module]
    if module == "threadline":
        argv.append("serve")
    argv += ["--port", str(port), "--db", database, "--log-level", "warning", *extra_args]
    process = spawn(
        argv,
        cpus=placement.server,
        env=server_env(upstream, env),
        log=logs / f"threadline-{port}.log",
    )
    service = Service("Threadline", port, process)
    try:
        wait_http_ok(f"{service.url}/healthz", process, "threadline serve", 60)
    except BaseException:
        service.stop()
        raise
    return service


def serve_help() -> str:
    """`threadline serve --help`, to learn which options this version has."""
    done = subprocess.run(
        [sys.executable, "-m", "threadline", "serve", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    return done.stdout + done.stderr


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants (a server may fork workers)."""
    total = 0
    for member in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def descendants(pid: int) -> Iterator[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    stack = list(children.get(pid, []))
    while stack:
        child = stack.pop()
        yield child
        stack.extend(children.get(child, []))
