"""From profile and counters to findings: what costs time, the evidence, and a proposed fix.

Each check looks for one of the suspects named in the issue (a connection per request, thread
hops, statements per turn, serialising twice, validating our own output, database calls on the
event loop). A finding is reported only when its symptom was measured, and findings are ranked
by the share of the event loop's samples their frames account for: the most that fixing them
could win back on the CPU-bound server.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from bench.counters import KindCounts
from bench.profiling import ProfileRun

STORE = "create, store: true"


@dataclass(slots=True)
class Finding:
    title: str
    share: float
    """Share of the event loop thread's samples (GIL profile, or native where larger)."""
    evidence: str
    proposal: str


def _per(counts: Sequence[KindCounts], kind: str, name: str) -> float:
    for entry in counts:
        if entry.kind == kind:
            return entry.per_request.get(name, 0.0)
    return 0.0


def _share(
    run: ProfileRun | None, gil: Sequence[str], native: Sequence[str] = (), own: bool = False
) -> float:
    """Share of samples in frames matching `gil` (only as innermost frame when `own`, for
    code that also wraps other work), or of native samples matching `native` if larger."""
    if run is None:
        return 0.0
    share = run.gil.self_share(gil) if own else run.gil.share(gil)
    if native and run.native is not None:
        share = max(share, run.native.share(native))
    return share


def analyse(run: ProfileRun | None, counts: Sequence[KindCounts]) -> list[Finding]:
    found: list[Finding] = []
    opened = _per(counts, STORE, "upstream.connections_opened")
    if opened >= 0.5:
        found.append(
            Finding(
                "A new upstream connection for every turn",
                _share(run, ["connect_tcp", "AsyncHTTPConnection._connect"]),
                f"{opened:.2f} TCP connections opened to the upstream per request (sequential "
                "requests; a pooled client would open one in total). Breaking out of "
                "`aiter_lines()` at `data: [DONE]` leaves the body unread, and httpcore then "
                "closes the connection instead of returning it to the pool (checked: 10 "
                "streamed requests leave 0 pooled connections when the loop breaks at [DONE], "
                "1 when it reads to the end).",
                "`providers/openai_chat.py` `OpenAIChatProvider._events`: after `[DONE]`, keep "
                "reading to the end of the body instead of `break`, so the connection is "
                "reused (saves a TCP connect, an HTTP/1.1 handshake and a close per turn).",
            )
        )
    pooled = {
        name.removeprefix("threadpool."): _per(counts, STORE, name)
        for entry in counts
        if entry.kind == STORE
        for name in entry.per_request
        if name.startswith("threadpool.")
    }
    if pooled:
        listed = ", ".join(f"`{name}` {n:g}" for name, n in pooled.items())
        found.append(
            Finding(
                "Sync dependencies run in the thread pool on every request",
                _share(
                    run,
                    ["run_in_threadpool", "run_sync_in_worker_thread", "to_thread.py:run_sync"],
                ),
                f"Thread-pool calls per request: {listed}. FastAPI runs a plain `def` "
                "dependency in a worker thread; each call is two thread switches and an "
                "anyio cancel scope, for a function that only reads `app.state`.",
                "`api/deps.py` `services`, `turn_tasks`: declare them `async def` (they do no "
                "I/O), so FastAPI calls them inline.",
            )
        )
    writes = _per(counts, STORE, "sqlite.writes")
    commits = _per(counts, STORE, "sql.COMMIT")
    if writes > 1:
        found.append(
            Finding(
                "More than one trip to the SQLite writer per stored turn",
                _share(run, ["storage/sql/databases.py"]),
                f"A stored turn makes {writes:g} writes ({commits:g} commits) on the store's "
                "writer thread; each waits for its own group commit.",
                "`storage/sql/store.py` `SqlStore.save_turn`: keep a turn's rows in one write "
                "function, so a turn is one transaction and one hop.",
            )
        )
    build = _share(
        run, ["sqlalchemy/sql/", "sqlalchemy/util/langhelpers.py", "sqlalchemy/engine/default.py"]
    )
    if build >= 0.03:
        found.append(
            Finding(
                "SQL statements are built and compiled per call",
                build,
                "Samples in SQLAlchemy's statement construction, coercion, cache-key and "
                "compilation code (`sqlalchemy/sql/*`): the hot-path statements "
                "(`insert(responses).values(row)`, `q.chain_context(...)`, "
                "`q.conversation_with_items(...)`) are new objects on every call.",
                "`storage/sql/store.py`, `storage/sql/queries.py`: build the hot-path statements "
                "once at import (bound parameters, `insert(table)` with parameter lists), so "
                "each call only binds values; or issue them as prepared text SQL.",
            )
        )
    anyio = _share(run, ["anyio/", "sniffio/"], own=True)
    if anyio >= 0.05:
        found.append(
            Finding(
                "anyio cancel scopes and checkpoints around every socket read",
                anyio,
                "Samples in anyio and sniffio themselves: httpx/httpcore wrap each upstream "
                "read and write in a timeout cancel scope, and Starlette runs responses in "
                "task groups. For a non-streaming request the upstream stream is still read "
                "chunk by chunk "
                f"({_per(counts, 'create, store: false', 'orjson.loads.calls'):g} JSON chunks "
                "for a two-word answer).",
                "Partly falls with the thread-pool and connection-reuse fixes (fewer cancel "
                "scopes, no connect). Beyond that: ask the upstream for a non-streamed completion "
                "when the client did not ask to stream (`OpenAIChatProvider.stream` could take "
                "a `stream` flag), one read instead of one per chunk.",
            )
        )
    decoding = _share(
        run, ["httpx/_models.py:Response.encoding", "httpx/_decoders.py", "Headers.encoding"]
    )
    if decoding >= 0.02:
        found.append(
            Finding(
                "The upstream stream is decoded to text, line by line, by httpx",
                decoding,
                "Samples in httpx's text decoding of the Chat Completions stream: "
                "`Response.aiter_lines()` looks up the charset (`Headers.encoding`, parsed with "
                "the `email` package) and decodes every chunk to `str` before the JSON parser "
                "sees it.",
                "`providers/openai_chat.py` `OpenAIChatProvider._events`: iterate "
                "`response.aiter_bytes()` and split on `\\n` yourself (SSE is UTF-8 and "
                "`orjson.loads` takes bytes).",
            )
        )
    getpid = run.native.share(["getpid"]) if run is not None and run.native is not None else 0
    if getpid >= 0.01 and sys.version_info < (3, 12):
        found.append(
            Finding(
                "asyncio's running-loop lookup is a system call on Python 3.11",
                getpid,
                "Native samples of the event loop thread in `getpid()`, called by CPython "
                "3.11's `get_running_loop()` (behind `asyncio.current_task()`, which sniffio, "
                "anyio cancel scopes and httpcore call many times per request). CPython 3.12 "
                "dropped that check (python/cpython#100363: get_running_loop 15x faster).",
                "Not a newer Python: measured (same run, interleaved, pinned), the server on "
                "3.12.1 made 0.95-0.99x and on 3.13.0 0.97x the turns per second of 3.11.7 at "
                "1 and 16 clients. Fewer anyio layers per request cut the calls (a streamed "
                "turn's answer no longer makes a task group).",
            )
        )
    framework = _share(run, ["fastapi/", "starlette/", "uvicorn/"], own=True)
    if framework >= 0.15:
        found.append(
            Finding(
                "The web framework's own layers",
                framework,
                "Samples in FastAPI, Starlette and uvicorn themselves (routing, dependency "
                "solving, the middleware stack, HTTP parsing and writing): with the upstream "
                "client, storage and serialisation trimmed, the per-request floor of the stack.",
                "Measure before changing: fewer middleware layers (ours and FastAPI's), or a "
                "plain Starlette route for `POST /v1/responses` that keeps the OpenAPI schema. "
                "Python 3.12+ also runs this code faster.",
            )
        )
    gc_share = (
        run.native.share(["gc_collect_main"]) if run is not None and run.native is not None else 0
    )
    if gc_share >= 0.03:
        found.append(
            Finding(
                "The cyclic garbage collector",
                gc_share,
                "Native samples in CPython's `gc_collect_main`: full collections walk every "
                "long-lived object, and each pause holds up every request in flight.",
                "`api/app.py` freezes what start-up built (`gc.freeze()`); if this still "
                "shows, look for cycles created per request.",
            )
        )
    validations = _per(counts, STORE, "pydantic.validations")
    dumps = _per(counts, STORE, "orjson.dumps.bytes")
    sent = _per(counts, STORE, "response.bytes")
    serial = _share(
        run,
        ["pydantic", "orjson", "json_response", "response_object", "item_row", "dumps"],
        own=True,
    )
    found.append(
        Finding(
            "Validation and serialisation (checked; not a hot spot)",
            serial,
            f"{validations:g} pydantic validation per request (the request body; our own "
            f"output is never validated), {_per(counts, STORE, 'pydantic.model_dump'):g} "
            f"model_dump; orjson produced {dumps:,.0f} bytes for a {sent:,.0f}-byte response: "
            "output items are serialised once for their database row and once inside the "
            "response body.",
            "No change needed now. If it ever shows: serialise each output item once and "
            "embed the bytes in both the row and the body (`orjson.Fragment`).",
        )
    )
    loop_sql = _share(run, ["sqlite3/"], ["libsqlite3", "sqlite3_step", "pysqlite_"])
    found.append(
        Finding(
            "Synchronous database calls on the event loop (checked; none)",
            loop_sql,
            "Share of the event loop thread's samples inside SQLite itself (native profile); "
            "SQLite runs "
            "on the store's own threads (one reader pool, one writer committing in groups). "
            "Statements per turn are constant: "
            + "; ".join(
                f"{entry.kind}: {entry.per_request.get('sql.statements', 0):g}" for entry in counts
            )
            + " (no query per history item: the chain and the conversation are one "
            "statement each).",
            "Nothing to fix.",
        )
    )
    return sorted(found, key=lambda f: f.share, reverse=True)
