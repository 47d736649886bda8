"""Stores for the contract suite: every backend, each fresh for every test.

PostgreSQL runs only when THREADLINE_TEST_POSTGRES_URL names a database the suite may wipe
(a SQLAlchemy async URL, e.g. postgresql+asyncpg://user:pass@localhost/threadline_test).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from threadline.storage.base import Store
from threadline.storage.memory import MemoryStore
from threadline.storage.sql import SqlStore
from threadline.storage.sql.tables import api_keys, conversations, items, responses

POSTGRES_URL = os.environ.get("THREADLINE_TEST_POSTGRES_URL")


def backend(name: str) -> Any:
    marks = []
    if name == "postgresql":
        marks.append(
            pytest.mark.skipif(
                POSTGRES_URL is None,
                reason="PostgreSQL contract run needs THREADLINE_TEST_POSTGRES_URL",
            )
        )
    return pytest.param(name, marks=marks, id=name)


async def open_backend(name: str, directory: Path) -> Store:
    if name == "memory":
        return MemoryStore()
    if name == "sqlite":
        store = SqlStore(f"sqlite+aiosqlite:///{directory / 'threadline.db'}")
        await store.migrate()
        return store
    assert POSTGRES_URL is not None
    store = SqlStore(POSTGRES_URL)
    await store.migrate()
    async with store.engine.begin() as conn:
        for table in (items, responses, conversations, api_keys):
            await conn.execute(delete(table))
    return store


@pytest.fixture(params=[backend("memory"), backend("sqlite"), backend("postgresql")])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_backend(request.param, tmp_path)
    yield opened
    await opened.close()


@pytest.fixture(params=[backend("sqlite"), backend("postgresql")])
async def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await open_backend(request.param, tmp_path)
    assert isinstance(opened, SqlStore)
    yield opened
    await opened.close()
