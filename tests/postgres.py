"""Throwaway PostgreSQL databases for tests, next to the one THREADLINE_TEST_POSTGRES_URL names.

That URL (`postgresql://user@host:port/db`, as `.ci/run` exports it) only serves to connect:
every user of it creates its own database, so reruns and concurrent sessions start clean, and
drops it afterwards, even when servers still hold connections to it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get("THREADLINE_TEST_POSTGRES_URL")
SKIP_REASON = "PostgreSQL runs need THREADLINE_TEST_POSTGRES_URL (.ci/run sets it)"

needs_postgres = pytest.mark.skipif(POSTGRES_URL is None, reason=SKIP_REASON)


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    # A thread of its own, so this works whether or not the caller is inside an event loop.
    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def _libpq_url(url: str) -> str:
    # asyncpg understands postgresql:// URLs; the +asyncpg spelling is SQLAlchemy's.
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _execute(admin_url: str, statement: str) -> None:
    connection = await asyncpg.connect(_libpq_url(admin_url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def temporary_database(label: str = "t") -> Iterator[str]:
    """Create a fresh database and yield its `postgresql://` URL; drop it on exit."""
    if POSTGRES_URL is None:
        pytest.skip(SKIP_REASON)
    name = f"threadline_{label}_{os.getpid()}_{secrets.token_hex(4)}"
    _run(_execute(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
    try:
        yield (
            make_url(_libpq_url(POSTGRES_URL))
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        _run(_execute(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def terminate_connections(url: str) -> None:
    """Close every server connection to the database `url` names, as a restart would."""
    assert POSTGRES_URL is not None
    name = make_url(url).database
    _run(
        _execute(
            POSTGRES_URL,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
        )
    )
