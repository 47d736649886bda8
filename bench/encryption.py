"""Benchmark 11: what encryption at rest costs a turn (non-streaming `POST /v1/responses`,
store on, SQLite; docs/encryption.md).

Two servers on two databases, one storing content in the clear and one with an encryption
key, measured in interleaved rounds so that the machine's drift touches both alike: the latency
of one turn after another, and the rate at `CONCURRENCY` clients. A sealed turn seals its items
and settings (AES-256-GCM under a data key wrapped once per process) before its write; its
context comes from the context cache, so nothing is opened on the hot path. Then the sealed
database is checked: no item of it holds the words that were sent.
"""

from __future__ import annotations

from sqlalchemy import select

from bench.context import BenchContext
from bench.procs import start_fake, start_threadline
from bench.results import Figure, median, ms
from bench.usage import CONCURRENCY, concurrent_rate, sequential_turns
from threadline.storage.encryption import new_key_entry
from threadline.storage.sql import SqlStore
from threadline.storage.sql.tables import items

NAME = "11. Encryption at rest (SQLite)"
ADDED_MS = 0.1
"""Sealing a turn's few values is microseconds of AES and base64 per value."""
RATE_RATIO = 0.95
SENT = "hello"  # bench.usage's body


async def run(ctx: BenchContext) -> list[Figure]:
    plain_db, sealed_db = ctx.database("clear"), ctx.database("sealed")
    env = {"THREADLINE_ENCRYPTION_KEYS": new_key_entry("bench")}
    rounds, per_round = ctx.count(10, 3), ctx.count(200, 40)
    latencies: dict[str, list[float]] = {"clear": [], "sealed": []}
    rates: dict[str, list[float]] = {"clear": [], "sealed": []}
    with (
        start_fake(ctx.placement, ctx.workdir) as fake,
        start_threadline(ctx.placement, ctx.workdir, fake, plain_db) as clear,
        start_threadline(ctx.placement, ctx.workdir, fake, sealed_db, env=env) as sealed,
    ):
        ports = {"clear": clear.port, "sealed": sealed.port}
        for port in ports.values():  # warm both
            await sequential_turns(port, "any", 50)
        for _ in range(rounds):
            for name, port in ports.items():
                latencies[name] += await sequential_turns(port, "any", per_round)
                rates[name].append(await concurrent_rate(port, "any", per_round))
    in_clear = await _items_holding(sealed_db, SENT)
    added = ms(median(latencies["sealed"])) - ms(median(latencies["clear"]))
    rate_ratio = median(rates["sealed"]) / median(rates["clear"])
    label = "content in the clear, another server beside it, interleaved rounds"
    return [
        Figure(
            "encryption.sealed_c1_p50",
            NAME,
            "encrypted, c=1: p50 latency",
            ms(median(latencies["sealed"])),
            "ms",
            baseline=ms(median(latencies["clear"])),
            baseline_label=label,
            target=f"≤ +{ADDED_MS:g} ms",
            met=added <= ADDED_MS,
            note=f"{added:+.3f} ms",
        ),
        Figure(
            "encryption.sealed_c8_rps",
            NAME,
            f"encrypted, c={CONCURRENCY}: requests/s",
            round(median(rates["sealed"]), 1),
            "req/s",
            baseline=round(median(rates["clear"]), 1),
            baseline_label=label,
            target=f"≥ {RATE_RATIO}x",
            met=rate_ratio >= RATE_RATIO,
            note=f"ratio {rate_ratio:.2f}",
        ),
        Figure(
            "encryption.items_in_clear",
            NAME,
            "stored items holding the words sent, in the encrypted database",
            in_clear,
            "items",
            target="= 0",
            met=in_clear == 0,
        ),
    ]


async def _items_holding(database: str, word: str) -> int:
    store = SqlStore(f"sqlite+aiosqlite:///{database}")
    try:
        data = await store.read(lambda conn: list(conn.scalars(select(items.c.data)).all()))
    finally:
        await store.close()
    if not data:
        raise RuntimeError("the encrypted server stored no item")
    return sum(word in text for text in data)
