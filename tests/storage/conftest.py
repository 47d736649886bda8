"""Stores for the contract suite: every backend, each fresh for every test.

PostgreSQL runs only when THREADLINE_TEST_POSTGRES_URL names a server the suite may create
databases on (e.g. postgresql://postgres@127.0.0.1:54329/threadline_test, as `.ci/run` sets
it): the suite gets a database of its own for the session and empties it before each test.

MongoDB runs on the server THREADLINE_TEST_MONGODB_URL names (a replica set), else on an
in-process stand-in whose test ids say `mongodb-standin` (see mongo_backend.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert
from sqlalchemy.engine import Connection

from tests.postgres import needs_postgres, temporary_database
from tests.storage.mongo_backend import (
    MONGODB_BACKEND,
    open_mongo_store,
    temporary_mongo_database,
)
from threadline.storage.base import Store
from threadline.storage.factory import sqlalchemy_url
from threadline.storage.memory import MemoryStore
from threadline.storage.sql import SqlStore
from threadline.storage.sql.tables import (
    STATE_ROW,
    api_keys,
    audit_events,
    background_jobs,
    changes,
    chat_completions,
    conversations,
    items,
    key_usage_windows,
    legal_holds,
    response_events,
    responses,
    store_state,
    usage_records,
    vector_chunks,
    vector_file_batches,
    vector_store_files,
    vector_stores,
    webhook_deliveries,
    webhook_endpoints,
)


def backend(name: str) -> Any:
    marks = [needs_postgres] if name == "postgresql" else []
    return pytest.param(name, marks=marks, id=name)


@pytest.fixture(scope="session")
def storage_postgres_url() -> Iterator[str]:
    """The contract suite's own PostgreSQL database, as a user would write its URL."""
    with temporary_database("storage") as url:
        yield url


@pytest.fixture(scope="session")
def storage_mongodb_database() -> Iterator[str]:
    """The contract suite's own database on the MongoDB server (unused by the stand-in)."""
    with temporary_mongo_database("storage") as name:
        yield name


async def open_backend(name: str, directory: Path, request: pytest.FixtureRequest) -> Store:
    if name == "memory":
        return MemoryStore()
    if name == MONGODB_BACKEND:
        return await open_mongo_store(request.getfixturevalue("storage_mongodb_database"))
    if name == "sqlite":
        store = SqlStore(f"sqlite+aiosqlite:///{directory / 'threadline.db'}")
        await store.migrate()
        return store
    url = sqlalchemy_url(request.getfixturevalue("storage_postgres_url"))
    assert url is not None
    store = SqlStore(url)
    await store.migrate()
    await store.write(empty_tables)
    return store


def empty_tables(conn: Connection) -> None:
    """The shared database as a fresh one: no rows, and the state row a migration creates (a
    test of a store without it deletes it)."""
    tables = (background_jobs, response_events, webhook_deliveries, webhook_endpoints, items)
    tables += (responses, conversations, api_keys, chat_completions)
    tables += (vector_chunks, vector_store_files, vector_file_batches, vector_stores)
    tables += (usage_records, key_usage_windows, audit_events, legal_holds)
    # The feed last: the deletes above enter tombstones in it.
    for table in (*tables, changes, store_state):
        conn.execute(delete(table))
    conn.execute(insert(store_state).values(id=STATE_ROW, history_generation=0))


@pytest.fixture(
    params=[
        backend("memory"),
        backend("sqlite"),
        backend("postgresql"),
        backend(MONGODB_BACKEND),
    ]
)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_backend(request.param, tmp_path, request)
    yield opened
    await opened.close()


@pytest.fixture(params=[backend("sqlite"), backend("postgresql")])
async def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await open_backend(request.param, tmp_path, request)
    assert isinstance(opened, SqlStore)
    yield opened
    await opened.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    """A fresh SQLite store alone (the SQLite-only tests)."""
    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'threadline.db'}")
    await store.migrate()
    yield store
    await store.close()
