"""`python -m bench.instrumented_server --port N --db FILE`: `threadline serve` that counts.

The same app as `threadline serve` (built by `create_app` from the same settings), with
counters wrapped around the libraries it calls, read with `GET /_bench/counters`:

- SQL statements by verb, commits, new database connections (SQLAlchemy events);
- calls to the SQLite store's threads (one hop each: a read, or a write that waits for its
  group commit);
- calls into the thread pool (what FastAPI does for a sync dependency or endpoint);
- orjson dumps/loads calls and bytes (serialising twice shows as twice the bytes);
- pydantic validations and serialisations.

For counting only: the wrappers cost time, so no latency is measured on this server.
"""

from __future__ import annotations

import argparse
import functools
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import orjson
import pydantic
import uvicorn
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool
from starlette.requests import Request
from starlette.responses import Response

from threadline.api.app import create_app
from threadline.cli.common import settings_from
from threadline.storage.sql.databases import SqliteDatabase

COUNTS: Counter[str] = Counter()


def _count_sql() -> None:
    @event.listens_for(Engine, "before_cursor_execute")
    def statement(
        conn: Any, cursor: Any, sql: str, params: Any, context: Any, executemany: bool
    ) -> None:
        verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
        COUNTS["sql.statements"] += 1
        COUNTS[f"sql.{verb}{' (many)' if executemany else ''}"] += 1

    @event.listens_for(Engine, "commit")
    def commit(conn: Any) -> None:
        COUNTS["sql.COMMIT"] += 1
        COUNTS["sql.statements"] += 1

    @event.listens_for(Pool, "connect")
    def connect(dbapi_connection: Any, record: Any) -> None:
        COUNTS["db.connections_opened"] += 1


def _wrap_async(owner: Any, name: str, key: Callable[..., str]) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    async def counted(*args: Any, **kwargs: Any) -> Any:
        COUNTS[key(*args, **kwargs)] += 1
        return await original(*args, **kwargs)

    setattr(owner, name, counted)


def _wrap_sync(owner: Any, name: str, on_call: Callable[..., None]) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def counted(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        on_call(result, *args, **kwargs)
        return result

    setattr(owner, name, counted)


def _thread_pool_key(func: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    target = getattr(func, "func", func)  # functools.partial from starlette
    return f"threadpool.{getattr(target, '__qualname__', repr(target))}"


def _dumped(result: bytes, *args: Any, **kwargs: Any) -> None:
    COUNTS["orjson.dumps.calls"] += 1
    COUNTS["orjson.dumps.bytes"] += len(result)


def _loaded(result: Any, data: Any, *args: Any, **kwargs: Any) -> None:
    COUNTS["orjson.loads.calls"] += 1
    COUNTS["orjson.loads.bytes"] += len(data)


def _counter(key: str) -> Callable[..., None]:
    def on_call(result: Any, *args: Any, **kwargs: Any) -> None:
        COUNTS[key] += 1

    return on_call


def install() -> None:
    _count_sql()
    _wrap_async(SqliteDatabase, "read", lambda *a, **k: "sqlite.reads")
    _wrap_async(SqliteDatabase, "write", lambda *a, **k: "sqlite.writes")
    _wrap_async(anyio.to_thread, "run_sync", _thread_pool_key)
    _wrap_sync(orjson, "dumps", _dumped)
    _wrap_sync(orjson, "loads", _loaded)
    _wrap_sync(pydantic.TypeAdapter, "validate_python", _counter("pydantic.validations"))
    _wrap_sync(pydantic.TypeAdapter, "validate_json", _counter("pydantic.validations"))
    _wrap_sync(pydantic.BaseModel, "model_dump", _counter("pydantic.model_dump"))
    _wrap_sync(pydantic.BaseModel, "model_dump_json", _counter("pydantic.model_dump"))
    original_validate = pydantic.BaseModel.model_validate.__func__  # type: ignore[attr-defined]

    def model_validate(cls: type[pydantic.BaseModel], *args: Any, **kwargs: Any) -> Any:
        COUNTS["pydantic.validations"] += 1
        return original_validate(cls, *args, **kwargs)

    pydantic.BaseModel.model_validate = classmethod(model_validate)  # type: ignore[assignment,method-assign]


async def counters(request: Request) -> Response:
    return Response(json.dumps(dict(COUNTS)), media_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    install()
    settings = settings_from(None, args.db, port=args.port, log_level=args.log_level)
    app = create_app(settings)
    app.add_route("/_bench/counters", counters, methods=["GET"])
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
