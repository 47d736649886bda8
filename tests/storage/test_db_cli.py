"""`threadline db copy` and `threadline db migrate`, through the command line.

A copy is checked twice: row for row (every table, keys included, in key order) and through
the store (the same chains, conversations and keys), and the copy must take new writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, select
from typer.testing import CliRunner, Result

from tests.postgres import POSTGRES_URL, needs_postgres, temporary_database
from tests.storage.test_store_contract import (
    A,
    api_key,
    conversation,
    conversation_texts,
    msg,
    save,
    texts,
)
from threadline.cli.main import app
from threadline.storage.factory import sqlalchemy_url
from threadline.storage.sql import SqlStore
from threadline.storage.sql.copy import TABLES
from threadline.storage.sql.tables import vector_chunks
from threadline.storage.sql.vector_search import embedding_floats
from threadline.storage.usage import KeyWindows, UsageQuery, UsageRecord
from threadline.storage.vector_stores import Chunk, ChunkQuery, VectorFileRecord, VectorStoreRecord

runner = CliRunner()


def cli(*args: str) -> Result:
    return runner.invoke(app, list(args))


def open_sql(url: str) -> SqlStore:
    sa_url = sqlalchemy_url(url)
    assert sa_url is not None
    return SqlStore(sa_url)


async def populate(url: str) -> dict[str, Any]:
    """A database with a conversation (turns, added items, a deleted item leaving a gap), a
    chain continuing one of its turns, and an API key."""
    store = open_sql(url)
    await store.migrate()
    try:
        conv = await conversation(store, "c0", "c1", metadata={"user": "ada"})
        turns = [
            await save(store, [f"q{n}"], [f"a{n}"], conversation=conv, at=1000.0 + n)
            for n in range(12)
        ]
        await store.append_items(A, conv, [msg("added-1"), msg("added-2")], now=2000.0)
        loaded = await store.load_conversation(A, conv)
        assert loaded is not None
        assert await store.delete_conversation_item(A, conv, loaded[1][1]["id"])
        reply = await save(store, ["follow-up"], ["answer"], previous=turns[5])
        key = api_key("ops")
        await store.create_api_key(key)
        await store.record_usage([a_usage_row(key.id, 1.0), a_usage_row(key.id, 2.0)])
        await store.add_key_usage(key.id, KeyWindows(60.0, 0.0, 0.0), tokens=30, cost=0.25)
        await a_vector_store(store, "file-1", [Chunk(0, "copied words", 2, [0.6, 0.8])])
        return {"conversation": conv, "reply": reply, "key_hash": key.key_hash}
    finally:
        await store.close()


def a_usage_row(api_key_id: str, at: float) -> UsageRecord:
    return UsageRecord(A, api_key_id, "u", "response", "m", "m", None, 10, 0, 5, 0, 0, 1.0, 0.1, at)


async def a_vector_store(store: SqlStore, file_id: str, chunks: list[Chunk]) -> None:
    """A vector store `vs_copy` (made on first use) holding `file_id`, ingested as `chunks`."""
    if await store.get_vector_store(A, "vs_copy") is None:
        await store.create_vector_store(VectorStoreRecord("vs_copy", A, "docs", 1.0, 1.0, "m"), [])
    chunking = {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}
    await store.add_vector_files([VectorFileRecord("vs_copy", file_id, A, "a.txt", 2.0, chunking)])
    [task] = await store.take_ingestion("p", 3.0, 60.0, 1)
    assert await store.finish_ingestion(task, "p", chunks, 10)


def _plain(table: Table, row: Any) -> tuple[Any, ...]:
    """A row as both databases agree on it (an embedding as its numbers, not its form)."""
    if table is not vector_chunks:
        return tuple(row)
    return tuple(
        [round(x, 5) for x in embedding_floats(value)] if name == "embedding" else value
        for name, value in row._mapping.items()
        if not name.startswith("part")
    )


async def table_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    store = open_sql(url)
    try:
        return await store.read(
            lambda conn: {
                table.name: [
                    _plain(table, row)
                    for row in conn.execute(select(table).order_by(*table.primary_key.columns))
                ]
                for table in TABLES
            }
        )
    finally:
        await store.close()


async def assert_same_history(url: str, facts: dict[str, Any]) -> None:
    store = open_sql(url)
    try:
        turns = [t for n in range(12) for t in (f"q{n}", f"a{n}")]
        history = await conversation_texts(store, facts["conversation"])
        assert history == ["c0", *turns, "added-1", "added-2"]
        chain = texts(await store.load_chain(A, facts["reply"]))
        assert chain == ["c0", *turns[:12], "follow-up", "answer"]
        assert await store.find_api_key(facts["key_hash"]) is not None
        # The copy takes new writes: ids and item numbers do not collide with copied ones.
        await save(store, ["new"], ["turn"], conversation=facts["conversation"], at=3000.0)
        assert (await conversation_texts(store, facts["conversation"]))[-2:] == ["new", "turn"]
        # The usage ledger came too, and takes new rows.
        await store.record_usage([a_usage_row("key", 3.0)])
        (total,) = await store.summarize_usage(UsageQuery(0.0, 10.0))
        assert (total.requests, total.input_tokens) == (3, 30)
        # The vector store came too, its indexes with it, and takes new chunks.
        await a_vector_store(store, "file-2", [Chunk(0, "fresh words", 2, [0.8, 0.6])])
        found = await store.search_chunks(ChunkQuery(A, ["vs_copy"], [0.6, 0.8], ["copied"], 5))
        assert [m.text for m in found.by_vector] == ["copied words", "fresh words"]
        assert [m.text for m in found.by_keyword] == ["copied words"]
    finally:
        await store.close()


@pytest.fixture
def postgres_database() -> Iterator[str]:
    with temporary_database("copy") as url:
        yield url


async def test_copy_to_another_sqlite_file_keeps_every_row_in_order(tmp_path: Path) -> None:
    source, destination = str(tmp_path / "source.db"), str(tmp_path / "copy.db")
    facts = await populate(source)
    result = await asyncio.to_thread(cli, "db", "copy", source, destination, "--batch-size", "7")
    assert result.exit_code == 0, result.output
    assert "copied 13 responses, 1 conversations, 29 items, 1 api_keys" in result.output
    assert await table_rows(destination) == await table_rows(source)
    await assert_same_history(destination, facts)


@needs_postgres
async def test_copy_sqlite_to_postgresql_and_back_keeps_every_row_in_order(
    tmp_path: Path, postgres_database: str
) -> None:
    source, back = f"sqlite:///{tmp_path / 'source.db'}", str(tmp_path / "back.db")
    facts = await populate(source)
    to_postgres = await asyncio.to_thread(
        cli, "db", "copy", source, postgres_database, "--batch-size", "5"
    )
    assert to_postgres.exit_code == 0, to_postgres.output
    assert await table_rows(postgres_database) == await table_rows(source)
    from_postgres = await asyncio.to_thread(cli, "db", "copy", postgres_database, back)
    assert from_postgres.exit_code == 0, from_postgres.output
    assert await table_rows(back) == await table_rows(source)
    await assert_same_history(postgres_database, facts)
    await assert_same_history(back, facts)


async def test_copy_refuses_a_destination_with_data_unless_forced(tmp_path: Path) -> None:
    source, destination = str(tmp_path / "source.db"), str(tmp_path / "copy.db")
    await populate(source)
    other = await populate(destination)
    before = await table_rows(destination)

    refused = await asyncio.to_thread(cli, "db", "copy", source, destination)
    assert refused.exit_code == 1
    assert "not empty" in refused.output and "--force" in refused.output
    assert await table_rows(destination) == before

    forced = await asyncio.to_thread(cli, "db", "copy", source, destination, "--force")
    assert forced.exit_code == 0, forced.output
    assert await table_rows(destination) == await table_rows(source)
    assert other["conversation"] not in str(await table_rows(destination))


async def test_copy_refuses_a_source_that_is_not_a_threadline_database(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    result = await asyncio.to_thread(cli, "db", "copy", str(empty), str(tmp_path / "copy.db"))
    assert result.exit_code == 1 and "no Threadline schema" in result.output


def test_copy_refuses_what_is_not_a_sql_database(tmp_path: Path) -> None:
    result = cli("db", "copy", "memory://", str(tmp_path / "copy.db"))
    assert result.exit_code == 2 and "between SQLite and PostgreSQL" in result.output


async def test_copy_refuses_to_copy_a_database_onto_itself(tmp_path: Path) -> None:
    source = str(tmp_path / "source.db")
    await populate(source)
    result = await asyncio.to_thread(cli, "db", "copy", source, f"sqlite:///{source}")
    assert result.exit_code == 1 and "same database" in result.output


@needs_postgres
def test_db_migrate_and_path_work_on_postgresql_without_printing_the_password(
    postgres_database: str,
) -> None:
    assert POSTGRES_URL is not None
    with_password = postgres_database.replace("postgres@", "postgres:hunter2@", 1)
    migrated = cli("db", "migrate", "--db", with_password)
    assert migrated.exit_code == 0, migrated.output
    assert "database is up to date: postgresql://postgres:***@" in migrated.output
    assert "hunter2" not in cli("db", "path", "--db", with_password).output
