"""`python -m bench.soak`: a bounded soak test on loopback.

Runs Threadline and the fake upstream as their own processes, keeps a steady number of
clients busy for a fixed time (default 10 minutes) with a mix of plain turns, chained turns,
conversation turns and streams, and prints one line per window: requests, errors, p50/p99
latency and the server's memory. It ends with the verdict the guarantees page asks for:
errors (must be 0), p99 drift (last window against the first) and memory growth.

    python -m bench.soak                                  # SQLite, 10 minutes, 16 clients
    python -m bench.soak --minutes 2 --clients 32
    python -m bench.soak --database-url postgresql://postgres@127.0.0.1:54329/soak

Only 127.0.0.1 is ever contacted; the run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.procs import Placement, Service, rss_bytes, start_fake, start_threadline

MODEL = "fake-model"


@dataclass(slots=True)
class Window:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)

    def fail(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


def _p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _one_turn(client: httpx.AsyncClient, n: int, state: dict[str, str]) -> None:
    kind = n % 4
    body: dict[str, object] = {"model": MODEL, "input": f"soak turn {n}"}
    if kind == 1 and "previous" in state:
        body["previous_response_id"] = state["previous"]
    elif kind == 2:
        body["conversation"] = state["conversation"]
    if kind == 3:
        body["stream"] = True
        async with client.stream("POST", "/v1/responses", json=body) as response:
            response.raise_for_status()
            last = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    last = line[7:]
            if last != "response.completed":
                raise RuntimeError(f"stream ended with {last or 'nothing'}")
        return
    response = await client.post("/v1/responses", json=body)
    response.raise_for_status()
    if kind == 1:
        state["previous"] = response.json()["id"]


async def _client_loop(
    client: httpx.AsyncClient,
    index: int,
    deadline: float,
    windows: list[Window],
    started: float,
    window_seconds: float,
) -> None:
    state = {"conversation": (await client.post("/v1/conversations", json={})).json()["id"]}
    n = index * 1_000_000
    while time.monotonic() < deadline:
        n += 1
        begin = time.monotonic()
        window = windows[min(len(windows) - 1, int((begin - started) / window_seconds))]
        try:
            await _one_turn(client, n, state)
        except (httpx.HTTPError, RuntimeError, KeyError, ValueError) as exc:
            window.fail(type(exc).__name__)
            continue
        window.latencies.append(time.monotonic() - begin)


async def _soak(
    server: Service, clients: int, seconds: float, window_seconds: float
) -> list[Window]:
    windows = [Window() for _ in range(max(1, int(seconds / window_seconds)))]
    started = time.monotonic()
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as client:
        loops = [
            _client_loop(client, i, started + seconds, windows, started, window_seconds)
            for i in range(clients)
        ]
        reporter = _Reporter(server, windows, started, window_seconds)
        printing = asyncio.create_task(reporter.run())
        await asyncio.gather(*loops)
        printing.cancel()
        reporter.flush(len(windows))
    return windows


class _Reporter:
    """Prints each window once it is over (and, at the end, the ones still unprinted)."""

    def __init__(
        self, server: Service, windows: list[Window], started: float, length: float
    ) -> None:
        self.server, self.windows, self.started, self.length = server, windows, started, length
        self.shown = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(1)
            self.flush(int((time.monotonic() - self.started) / self.length))

    def flush(self, upto: int) -> None:
        while self.shown < min(upto, len(self.windows)):
            w = self.windows[self.shown]
            print(
                f"window {self.shown + 1:3d}: {len(w.latencies):6d} ok {w.errors:4d} errors  "
                f"p50 {_p(w.latencies, 0.5) * 1e3:7.1f} ms  "
                f"p99 {_p(w.latencies, 0.99) * 1e3:7.1f} ms  "
                f"rss {rss_bytes(self.server.pid) / 2**20:6.1f} MiB",
                flush=True,
            )
            self.shown += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--window-seconds", type=float, default=30.0)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary directory")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    args = parser.parse_args(argv)

    placement = Placement.choose(pin=not args.no_pin)
    placement.pin_self_to_load()
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="threadline-soak-") as workdir:
        logs = Path(workdir)
        database = args.database_url or str(logs / "soak.db")
        with (
            start_fake(placement, logs) as fake,
            start_threadline(placement, logs, fake, database) as server,
        ):
            rss_start = rss_bytes(server.pid)
            where = database.split("@")[-1]  # never print a password
            print(f"soak: {args.clients} clients for {args.minutes:g} min against {where}")
            windows = asyncio.run(_soak(server, args.clients, seconds, args.window_seconds))
            rss_end = rss_bytes(server.pid)

    errors = sum(w.errors for w in windows)
    kinds: dict[str, int] = {}
    for w in windows:
        for kind, count in w.error_kinds.items():
            kinds[kind] = kinds.get(kind, 0) + count
    first, last = windows[0].latencies, windows[-1].latencies
    drift = _p(last, 0.99) / _p(first, 0.99) if first and last else float("nan")
    total = sum(len(w.latencies) for w in windows)
    print(
        f"\nrequests {total}, errors {errors} {kinds or ''}\n"
        f"p99 first window {_p(first, 0.99) * 1e3:.1f} ms, last {_p(last, 0.99) * 1e3:.1f} ms "
        f"(drift {drift:.2f}x); median of window medians "
        f"{statistics.median(_p(w.latencies, 0.5) for w in windows if w.latencies) * 1e3:.1f} ms\n"
        f"server memory {rss_start / 2**20:.1f} MiB -> {rss_end / 2**20:.1f} MiB "
        f"(+{(rss_end - rss_start) / 2**20:.1f} MiB)"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
