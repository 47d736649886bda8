"""`python -m bench.pyload URL --concurrency N --seconds S`: the load generator used when
`wrk` is not installed. POSTs the file named by $BENCH_BODY_FILE over N keep-alive
connections and prints one `BENCH {json}` line in the same shape as the wrk script."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import uvloop

from bench.http1 import HttpConnection
from bench.results import percentile


async def _worker(
    host: str, port: int, path: str, body: bytes, deadline: float, latencies: list[float]
) -> tuple[int, int]:
    errors = non_2xx = 0
    connection: HttpConnection | None = None
    while time.perf_counter() < deadline:
        try:
            if connection is None or connection.closed:
                connection = await HttpConnection.open(host, port)
            started = time.perf_counter()
            reply = await connection.request("POST", path, body)
            latencies.append(time.perf_counter() - started)
            if not 200 <= reply.status < 300:
                non_2xx += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1
            if connection is not None:
                await connection.close()
            connection = None
    if connection is not None:
        await connection.close()
    return errors, non_2xx


async def _run(url: str, body: bytes, concurrency: int, seconds: float) -> dict[str, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds
    outcomes = await asyncio.gather(
        *(_worker(host, port, parts.path, body, deadline, latencies) for _ in range(concurrency))
    )
    duration = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "duration_s": duration,
        "p50_ms": percentile(latencies, 50) * 1000 if latencies else 0.0,
        "p99_ms": percentile(latencies, 99) * 1000 if latencies else 0.0,
        "errors": sum(e for e, _ in outcomes),
        "non_2xx": sum(n for _, n in outcomes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    body = Path(os.environ["BENCH_BODY_FILE"]).read_bytes()
    result = uvloop.run(_run(args.url, body, args.concurrency, args.seconds))
    print("BENCH " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
