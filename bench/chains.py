"""Benchmark 3: long histories. A `previous_response_id` chain and a conversation of N turns
(200, compared with ratios of whole latencies), then of 2,000 (issue 20: compared by what
Threadline adds to the upstream's own latency, which grows with the history it is sent).

Each turn is one non-streaming request, sent after the previous one finished. We compare the
median latency of the first and the last ten turns, and what the database gained during those
windows: if every item is written once, each turn adds the same rows and bytes however long
the history. The baseline is the fake upstream called directly with the message lists those
turns send it (history grows there too: the model is sent everything).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson

from bench.context import MODEL, BenchContext
from bench.footprint import Footprint, measure
from bench.http1 import HttpConnection
from bench.procs import Service, start_fake, start_threadline
from bench.results import Figure, median, ms

NAME = "3. Long histories (SQLite)"
WINDOW = 10
RATIO_TARGET = 1.3
GROWTH_TOLERANCE = 1.1
LONG_TURNS = 2000
LONG_RATIO_TARGET = 1.1


@dataclass(slots=True)
class Windows:
    """Latencies of every turn and the footprint at the four window boundaries."""

    turns: int
    latencies: list[float]
    marks: dict[int, Footprint]
    ids: list[str]
    interleaved: tuple[list[float], list[float]] = ([], [])
    """Latencies of turns alternating between a WINDOW-turn and a full-length history."""

    def first(self) -> list[float]:
        return self.latencies[:WINDOW]

    def last(self) -> list[float]:
        return self.latencies[-WINDOW:]

    def added(self, first: bool) -> Footprint:
        if first:
            return self.marks[WINDOW] - self.marks[0]
        return self.marks[self.turns] - self.marks[self.turns - WINDOW]


async def _post(
    connection: HttpConnection, path: str, body: Mapping[str, object]
) -> dict[str, object]:
    reply = await connection.request("POST", path, orjson.dumps(body))
    if reply.status != 200:
        raise RuntimeError(f"POST {path} answered {reply.status}: {reply.body[:300]!r}")
    data: dict[str, object] = orjson.loads(reply.body)
    return data


async def run_turns(
    server: Service,
    database: str,
    turns: int,
    body_for: Callable[[int, str | None], dict[str, object]],
) -> Windows:
    boundaries = {0, WINDOW, turns - WINDOW, turns}
    latencies: list[float] = []
    ids: list[str] = []
    marks: dict[int, Footprint] = {0: measure(database)}
    connection = await HttpConnection.open("127.0.0.1", server.port)
    try:
        for turn in range(1, turns + 1):
            started = time.perf_counter()
            body = body_for(turn, ids[-1] if ids else None)
            response = await _post(connection, "/v1/responses", body)
            latencies.append(time.perf_counter() - started)
            ids.append(str(response["id"]))
            if turn in boundaries:
                marks[turn] = measure(database)
    finally:
        await connection.close()
    return Windows(turns, latencies, marks, ids)


async def alternate(
    server: Service, short: Mapping[str, object], long: Mapping[str, object], pairs: int
) -> tuple[list[float], list[float]]:
    """Latencies of turns sent alternately with a short and a long history. Alternating makes
    the comparison immune to the machine getting busier or quieter during the run."""
    latencies: tuple[list[float], list[float]] = ([], [])
    connection = await HttpConnection.open("127.0.0.1", server.port)
    try:
        for body in (short, long):  # warm-up: the first use of each history is not counted
            await _post(connection, "/v1/responses", body)
        for _ in range(pairs):
            for into, body in zip(latencies, (short, long), strict=True):
                started = time.perf_counter()
                await _post(connection, "/v1/responses", body)
                into.append(time.perf_counter() - started)
    finally:
        await connection.close()
    return latencies


async def _warm_up(server: Service) -> None:
    """A few turns first, so the first measured window is not the server's first requests."""
    connection = await HttpConnection.open("127.0.0.1", server.port)
    try:
        for _ in range(5):
            await _post(connection, "/v1/responses", {"model": MODEL, "input": "warm up"})
    finally:
        await connection.close()


def history_messages(turn: int) -> list[dict[str, str]]:
    """What the model is sent at `turn` of a chain or conversation of echo replies."""
    messages: list[dict[str, str]] = []
    for earlier in range(1, turn):
        messages.append({"role": "user", "content": f"turn {earlier}"})
        messages.append({"role": "assistant", "content": f"echo: turn {earlier}"})
    messages.append({"role": "user", "content": f"turn {turn}"})
    return messages


async def direct_alternate(
    fake: Service, short_turn: int, long_turn: int, pairs: int
) -> tuple[list[float], list[float]]:
    """The upstream called directly, alternately with the messages of two turns (as
    `alternate` sends Threadline forks of them), after one warm-up call of each."""
    bodies = [
        orjson.dumps({"model": MODEL, "messages": history_messages(turn)})
        for turn in (short_turn, long_turn)
    ]
    latencies: tuple[list[float], list[float]] = ([], [])
    connection = await HttpConnection.open("127.0.0.1", fake.port)
    try:
        for round_ in range(pairs + 1):
            for into, body in zip(latencies, bodies, strict=True):
                started = time.perf_counter()
                reply = await connection.request("POST", "/v1/chat/completions", body)
                if reply.status != 200:
                    raise RuntimeError(f"fake upstream answered {reply.status}")
                if round_:
                    into.append(time.perf_counter() - started)
    finally:
        await connection.close()
    return latencies


async def direct_windows(fake: Service, turns: int) -> tuple[list[float], list[float]]:
    connection = await HttpConnection.open("127.0.0.1", fake.port)
    windows: list[list[float]] = []
    try:
        # Warm-up (discarded): the fake's first requests are slower than the rest.
        for window in (range(1, 6), range(1, WINDOW + 1), range(turns - WINDOW + 1, turns + 1)):
            latencies: list[float] = []
            for turn in window:
                # Non-streamed, as Threadline asks for a non-streaming client's turn.
                body = orjson.dumps({"model": MODEL, "messages": history_messages(turn)})
                started = time.perf_counter()
                reply = await connection.request("POST", "/v1/chat/completions", body)
                latencies.append(time.perf_counter() - started)
                if reply.status != 200:
                    raise RuntimeError(f"fake upstream answered {reply.status}")
            windows.append(latencies)
    finally:
        await connection.close()
    return windows[1], windows[2]


def chain_turn(turn: int, previous: str | None) -> dict[str, object]:
    body: dict[str, object] = {"model": MODEL, "input": f"turn {turn}", "store": True}
    if previous:
        body["previous_response_id"] = previous
    return body


def conversation_turn(conversation: str) -> Callable[[int, str | None], dict[str, object]]:
    def body(turn: int, _previous: str | None) -> dict[str, object]:
        return {"model": MODEL, "input": f"turn {turn}", "conversation": conversation}

    return body


async def run(ctx: BenchContext) -> list[Figure]:
    turns = ctx.count(200, 30)
    pairs = ctx.count(15, 5)
    with start_fake(ctx.placement, ctx.workdir) as fake:
        direct = await direct_windows(fake, turns)
        database = ctx.database("chains")
        with start_threadline(ctx.placement, ctx.workdir, fake, database) as server:
            await _warm_up(server)
            chain = await run_turns(server, database, turns, chain_turn)
            # Forks of the chain: continuing its 10th response or its last one.
            chain.interleaved = await alternate(
                server,
                {"model": MODEL, "input": "fork", "previous_response_id": chain.ids[WINDOW - 1]},
                {"model": MODEL, "input": "fork", "previous_response_id": chain.ids[-1]},
                pairs,
            )
            connection = await HttpConnection.open("127.0.0.1", server.port)
            try:
                conversation = str((await _post(connection, "/v1/conversations", {}))["id"])
                short = str((await _post(connection, "/v1/conversations", {}))["id"])
                for turn in range(1, WINDOW + 1):
                    body = {"model": MODEL, "input": f"turn {turn}", "conversation": short}
                    await _post(connection, "/v1/responses", body)
            finally:
                await connection.close()
            in_conversation = await run_turns(
                server, database, turns, conversation_turn(conversation)
            )
            in_conversation.interleaved = await alternate(
                server,
                {"model": MODEL, "input": "next", "conversation": short},
                {"model": MODEL, "input": "next", "conversation": conversation},
                pairs,
            )
        long_chain, long_conversation, long_direct, direct_forks = await _long_histories(
            ctx, fake, pairs
        )
    return [
        *figures("chain", "previous_response_id chain", chain, direct),
        *figures("conversation", "conversation", in_conversation, direct),
        *long_figures("chain", "previous_response_id chain", long_chain, long_direct),
        _forks_figure(long_chain, direct_forks),
        *long_figures("conversation", "conversation", long_conversation, long_direct),
    ]


async def _long_histories(
    ctx: BenchContext, fake: Service, pairs: int
) -> tuple[Windows, Windows, tuple[list[float], list[float]], tuple[list[float], list[float]]]:
    """A chain and a conversation of LONG_TURNS turns on a fresh database, and the upstream
    called directly with the same messages; then forks of the chain's 10th and last turns,
    alternating, against the upstream called alternately with what they send."""
    turns = ctx.count(LONG_TURNS, 60)
    direct = await direct_windows(fake, turns)
    database = ctx.database("chains-long")
    with start_threadline(ctx.placement, ctx.workdir, fake, database) as server:
        await _warm_up(server)
        chain = await run_turns(server, database, turns, chain_turn)
        chain.interleaved = await alternate(
            server,
            {"model": MODEL, "input": "fork", "previous_response_id": chain.ids[WINDOW - 1]},
            {"model": MODEL, "input": "fork", "previous_response_id": chain.ids[-1]},
            pairs,
        )
        connection = await HttpConnection.open("127.0.0.1", server.port)
        try:
            conversation = str((await _post(connection, "/v1/conversations", {}))["id"])
        finally:
            await connection.close()
        in_conversation = await run_turns(server, database, turns, conversation_turn(conversation))
    direct_forks = await direct_alternate(fake, WINDOW + 1, turns + 1, pairs)
    return chain, in_conversation, direct, direct_forks


def _forks_figure(run: Windows, direct: tuple[list[float], list[float]]) -> Figure:
    """The same reading as the chain's added-latency ratio, from forks of its 10th and last
    turns sent alternately: steadier than two windows of ten turns taken minutes apart."""
    short, long = (median(side) for side in run.interleaved)
    direct_short, direct_long = (median(side) for side in direct)
    ratio = (long - direct_long) / (short - direct_short)
    return Figure(
        "chains.long.chain.forks_added_ratio",
        NAME,
        f"previous_response_id chain of {run.turns} turns: added latency (over direct) of a fork "
        f"of its last turn / of its turn {WINDOW}, alternating ({len(run.interleaved[0])} pairs)",
        ratio,
        "x",
        direct_long / direct_short,
        "fake upstream direct, same messages, alternating: its own latency ratio",
        target=f"≤ {LONG_RATIO_TARGET}x (issue 20, read steadily)",
        met=ratio <= LONG_RATIO_TARGET,
        note=f"added {ms(short - direct_short):.2f} ms → {ms(long - direct_long):.2f} ms",
    )


def long_figures(
    key: str, label: str, run: Windows, direct: tuple[list[float], list[float]]
) -> list[Figure]:
    """Issue 20's reading of a long history: what Threadline adds to the upstream's own time
    (the model is sent the whole history, so the upstream itself slows as it grows), in the
    last ten turns against the first ten; and the bytes each turn stores."""
    n = run.turns
    late = f"{n - WINDOW + 1}-{n}"
    added_first = median(run.first()) - median(direct[0])
    added_last = median(run.last()) - median(direct[1])
    ratio = added_last / added_first
    return [
        Figure(
            f"chains.long.{key}.added_ratio",
            NAME,
            f"{label} of {n} turns: added latency (over direct) turns {late} / turns 1-{WINDOW}",
            ratio,
            "x",
            median(direct[1]) / median(direct[0]),
            "fake upstream direct, same messages: its own latency ratio",
            target=f"≤ {LONG_RATIO_TARGET}x (issue 20)",
            met=ratio <= LONG_RATIO_TARGET,
            note=f"added {ms(added_first):.2f} ms → {ms(added_last):.2f} ms; whole turn "
            f"{ms(median(run.first())):.2f} → {ms(median(run.last())):.2f} ms",
        ),
        _bytes_figure(f"chains.long.{key}.bytes", f"{label} of {n} turns", run),
    ]


def figures(
    key: str, label: str, run: Windows, direct: tuple[list[float], list[float]]
) -> list[Figure]:
    n = run.turns
    late = f"{n - WINDOW + 1}-{n}"
    first, last = median(run.first()), median(run.last())
    direct_first, direct_last = median(direct[0]), median(direct[1])
    baseline = "fake upstream direct, same messages"
    ratio = last / first
    short, long = (median(side) for side in run.interleaved)
    early_bytes, late_bytes = run.added(True), run.added(False)
    early_rows = _rows_per_turn(early_bytes)
    late_rows = _rows_per_turn(late_bytes)
    return [
        Figure(
            f"chains.{key}.first.p50",
            NAME,
            f"{label}: median latency, turns 1-{WINDOW}",
            ms(first),
            "ms",
            ms(direct_first),
            baseline,
        ),
        Figure(
            f"chains.{key}.last.p50",
            NAME,
            f"{label}: median latency, turns {late}",
            ms(last),
            "ms",
            ms(direct_last),
            baseline,
        ),
        Figure(
            f"chains.{key}.ratio",
            NAME,
            f"{label}: latency turns {late} / turns 1-{WINDOW}",
            ratio,
            "x",
            direct_last / direct_first,
            baseline,
            target=f"≤ {RATIO_TARGET}x",
            met=ratio <= RATIO_TARGET,
        ),
        Figure(
            f"chains.{key}.interleaved",
            NAME,
            f"{label}: latency with a {n}-turn / a {WINDOW}-turn history, "
            f"alternating ({len(run.interleaved[0])} pairs)",
            long / short,
            "x",
            direct_last / direct_first,
            baseline,
            target=f"≤ {RATIO_TARGET}x",
            met=long / short <= RATIO_TARGET,
            note=f"{ms(short):.2f} ms vs {ms(long):.2f} ms",
        ),
        _bytes_figure(f"chains.{key}.bytes", label, run),
        Figure(
            f"chains.{key}.rows",
            NAME,
            f"{label}: rows written per turn, turns {late}",
            sum(late_rows.values()),
            "rows",
            sum(early_rows.values()),
            f"turns 1-{WINDOW}",
            target="constant (items written once)",
            met=late_rows == early_rows,
            note=", ".join(f"{table} {n:g}" for table, n in late_rows.items()),
        ),
    ]


def _bytes_figure(key: str, label: str, run: Windows) -> Figure:
    early, late = run.added(True), run.added(False)
    bytes_early, bytes_late = early.payload_bytes / WINDOW, late.payload_bytes / WINDOW
    return Figure(
        key,
        NAME,
        f"{label}: payload bytes stored per turn, turns {run.turns - WINDOW + 1}-{run.turns}",
        bytes_late,
        "B",
        bytes_early,
        f"turns 1-{WINDOW}",
        target="constant (flat)",
        met=bytes_late <= bytes_early * GROWTH_TOLERANCE,
        note=f"file growth {late.file_bytes / WINDOW:,.0f} B/turn "
        f"(1-{WINDOW}: {early.file_bytes / WINDOW:,.0f}); page-rounded",
    )


def _rows_per_turn(added: Footprint) -> dict[str, float]:
    """Rows the turns wrote, by table. The full-text index's own tables are left out: the
    retention sweep fills them in batches, off the turns' path, whenever it runs (once in a
    window of ten turns it added 25 rows a turn of earlier items)."""
    return {
        table: n / WINDOW
        for table, n in added.rows.items()
        if n and not table.startswith("items_fts")
    }
