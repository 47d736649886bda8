"""A fresh PostgreSQL database for one bench run, created beside the one the URL names.

A database that earlier runs and tests have filled measures its own size as much as
Threadline: the PostgreSQL benchmark read 850 req/s at c=64 on a long-used development
database and 1,336 on a fresh one, same code, same hour. Each run therefore creates its own
database and drops it at the end; a role that may not create databases runs on the one named.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy.engine import make_url


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """The URL of a new, empty database on `url`'s server (or `url`, if one cannot be made)."""
    name = f"threadline_bench_{secrets.token_hex(4)}"
    try:
        asyncio.run(_execute(url, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"  (on {make_url(url).database}: cannot create a database of its own: {exc})")
        yield url
        return
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_execute(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _execute(url: str, statement: str) -> None:
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(libpq)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
