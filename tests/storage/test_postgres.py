"""What only a PostgreSQL server can break: several processes starting together and writing
to one conversation at once (each SqlStore here stands for one replica, with its own pool),
connections that a database restart closed, and writes that deadlock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from tests.postgres import needs_postgres, temporary_database, terminate_connections
from tests.storage.test_store_contract import A, conversation, conversation_texts, msg, save
from threadline.storage.factory import sqlalchemy_url
from threadline.storage.sql import SqlStore, engines
from threadline.storage.sql.migrate import head_revision

pytestmark = needs_postgres


@pytest.fixture
async def replicas() -> AsyncIterator[list[SqlStore]]:
    """Four stores on one fresh, never migrated database."""
    with temporary_database("replicas") as url:
        sa_url = sqlalchemy_url(url)
        assert sa_url is not None
        stores = [SqlStore(sa_url, pool_size=2, max_overflow=2) for _ in range(4)]
        try:
            yield stores
        finally:
            for store in stores:
                await store.close()


async def test_replicas_starting_together_migrate_once(replicas: list[SqlStore]) -> None:
    await asyncio.gather(*(store.migrate() for store in replicas))
    versions = await replicas[0].read(
        lambda conn: conn.execute(text("SELECT version_num FROM alembic_version")).all()
    )
    assert [tuple(row) for row in versions] == [(head_revision(),)]


async def test_replicas_writing_one_conversation_keep_every_turn_contiguous(
    replicas: list[SqlStore],
) -> None:
    first, second = replicas[0], replicas[1]
    await first.migrate()
    conv = await conversation(first, "seed")
    writes = []
    for n in range(20):
        replica = (first, second)[n % 2]
        writes.append(save(replica, [f"t{n}-in"], [f"t{n}-a", f"t{n}-b"], conversation=conv))
        writes.append(replica.append_items(A, conv, [msg(f"i{n}-x"), msg(f"i{n}-y")], now=n))
    await asyncio.gather(*writes)
    for reader in (first, second):
        history = await conversation_texts(reader, conv)
        assert len(history) == 1 + 20 * 5 and len(set(history)) == len(history)
        for n in range(20):
            start = history.index(f"t{n}-in")
            assert history[start : start + 3] == [f"t{n}-in", f"t{n}-a", f"t{n}-b"]
            start = history.index(f"i{n}-x")
            assert history[start + 1] == f"i{n}-y"


async def test_a_database_restart_while_idle_costs_a_reconnect_not_a_failed_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with temporary_database("restart") as url:
        sa_url = sqlalchemy_url(url)
        assert sa_url is not None
        store = SqlStore(sa_url, pool_size=2)
        try:
            await store.migrate()
            conv = await conversation(store, "c0")
            terminate_connections(url)
            monkeypatch.setattr(engines, "IDLE_PING_S", 0.0)  # every pooled one is now idle
            assert await conversation_texts(store, conv) == ["c0"]
            assert await store.append_items(A, conv, [msg("c1")], now=1.0)
            assert await conversation_texts(store, conv) == ["c0", "c1"]
        finally:
            await store.close()


async def test_writes_that_deadlock_are_run_again_and_both_succeed(
    replicas: list[SqlStore],
) -> None:
    first, second = replicas[0], replicas[1]
    await first.migrate()
    conversations = [await conversation(first, "seed") for _ in range(2)]
    runs: list[str] = []

    def lock_in_order(conn: Connection, order: list[str], name: str) -> str:
        runs.append(name)
        for n, conversation_id in enumerate(order):
            conn.execute(
                text("UPDATE conversations SET last_active_at = last_active_at + 1 WHERE id = :id"),
                {"id": conversation_id},
            )
            if n == 0:  # both hold their first row when they ask for the second
                conn.execute(text("SELECT pg_sleep(0.3)"))
        return name

    done = await asyncio.gather(
        first.write(lock_in_order, conversations, "forward"),
        second.write(lock_in_order, conversations[::-1], "backward"),
    )
    assert done == ["forward", "backward"]
    assert len(runs) == 3  # PostgreSQL aborted one of the two; it ran again
    for conversation_id in conversations:
        record = await first.get_conversation(A, conversation_id)
        assert record is not None and record.last_active_at == 100.0 + 2
