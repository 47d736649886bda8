"""The vector store contract (storage/vector_stores.py), on every backend."""

from __future__ import annotations

import math

import pytest

from threadline.storage.base import Store
from threadline.storage.sql import SqlStore
from threadline.storage.vector_stores import (
    Chunk,
    ChunkQuery,
    FileBatchRecord,
    IngestionTask,
    VectorFileRecord,
    VectorStoreRecord,
)

NOW = 1_000_000.0
STATIC = {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}


def axis(i: int, dims: int = 4) -> list[float]:
    return [1.0 if j == i else 0.0 for j in range(dims)]


def between(i: int, j: int) -> list[float]:
    v = [0.0] * 4
    v[i] = v[j] = 1 / math.sqrt(2)
    return v


def a_store(
    vector_store_id: str = "vs_1", tenant: str = "t1", at: float = NOW
) -> VectorStoreRecord:
    return VectorStoreRecord(
        id=vector_store_id,
        tenant=tenant,
        name="docs",
        created_at=at,
        last_active_at=at,
        embedding_model="embed",
        metadata={"team": "a"},
    )


def a_file(
    file_id: str,
    vector_store_id: str = "vs_1",
    tenant: str = "t1",
    *,
    attributes: dict[str, object] | None = None,
    batch_id: str | None = None,
    at: float = NOW,
) -> VectorFileRecord:
    return VectorFileRecord(
        vector_store_id=vector_store_id,
        file_id=file_id,
        tenant=tenant,
        filename=f"{file_id}.txt",
        created_at=at,
        chunking=STATIC,
        attributes=attributes,
        batch_id=batch_id,
    )


async def ingest(store: Store, owner: str, chunks: dict[str, list[Chunk]]) -> list[IngestionTask]:
    tasks = await store.take_ingestion(owner, NOW, NOW + 60, 100)
    for task in tasks:
        assert await store.finish_ingestion(task, owner, chunks.get(task.file_id, []), 10)
    return tasks


def query(vector: list[float], *words: str, **extra: object) -> ChunkQuery:
    return ChunkQuery(
        tenant=str(extra.get("tenant", "t1")),
        vector_store_ids=["vs_1"],
        vector=vector,
        keywords=list(words),
        limit=10,
        file_ids=extra.get("file_ids"),  # type: ignore[arg-type]
    )


async def test_a_vector_store_belongs_to_its_tenant(store: Store) -> None:
    await store.create_vector_store(a_store(), [a_file("file-a")])
    assert (await store.get_vector_store("t1", "vs_1")) is not None
    assert await store.get_vector_store("t2", "vs_1") is None
    assert await store.get_vector_file("t2", "vs_1", "file-a") is None
    assert (
        await store.list_vector_stores("t2", after=None, before=None, limit=10, order="desc")
    ).stores == []
    assert not await store.delete_vector_store("t2", "vs_1")
    assert not await store.add_vector_files([a_file("file-b", tenant="t2")])
    assert not await store.delete_vector_file("t2", "vs_1", "file-a")
    assert await store.vector_file_chunks("t2", "vs_1", "file-a") is None
    await ingest(store, "p1", {"file-a": [Chunk(0, "secret plans", 2, axis(0))]})
    other = await store.search_chunks(query(axis(0), "secret", tenant="t2"))
    assert other.by_vector == [] and other.by_keyword == []


async def test_a_file_is_taken_once_and_searchable_only_once_completed(store: Store) -> None:
    await store.create_vector_store(a_store(), [a_file("file-a")])
    view = await store.get_vector_store("t1", "vs_1")
    assert view is not None and view.counts.in_progress == 1 and view.counts.total == 1
    tasks = await store.take_ingestion("p1", NOW, NOW + 60, 10)
    assert [(t.file_id, t.embedding_model, t.chunking) for t in tasks] == [
        ("file-a", "embed", STATIC)
    ]
    assert await store.take_ingestion("p2", NOW + 1, NOW + 61, 10) == []
    found = await store.search_chunks(query(axis(0), "apples"))
    assert found.by_vector == [] and found.by_keyword == []
    chunks = [Chunk(0, "apples are red", 3, axis(0)), Chunk(1, "pears are green", 3, axis(1))]
    assert await store.finish_ingestion(tasks[0], "p1", chunks, 123)
    view = await store.get_vector_store("t1", "vs_1")
    assert view is not None and view.counts.completed == 1 and view.usage_bytes == 123
    found = await store.search_chunks(query(axis(1), "apples"))
    assert [m.text for m in found.by_vector] == ["pears are green", "apples are red"]
    assert found.by_vector[0].score > 0.99 and abs(found.by_vector[1].score) < 0.01
    assert [m.text for m in found.by_keyword] == ["apples are red"]
    assert await store.vector_file_chunks("t1", "vs_1", "file-a") == [c.text for c in chunks]


async def test_a_lapsed_lease_passes_the_file_to_another_process(store: Store) -> None:
    await store.create_vector_store(a_store(), [a_file("file-a")])
    [first] = await store.take_ingestion("p1", NOW, NOW + 10, 10)
    assert await store.renew_ingestion("p1", NOW + 20) == 1
    assert await store.take_ingestion("p2", NOW + 15, NOW + 75, 10) == []
    [second] = await store.take_ingestion("p2", NOW + 21, NOW + 81, 10)
    assert not await store.finish_ingestion(first, "p1", [Chunk(0, "late", 1, axis(0))], 1)
    assert await store.fail_ingestion(second, "p2", {"code": "invalid_file", "message": "bad"})
    failed = await store.get_vector_file("t1", "vs_1", "file-a")
    assert failed is not None and failed.status == "failed"
    assert failed.last_error == {"code": "invalid_file", "message": "bad"}
    assert await store.vector_file_chunks("t1", "vs_1", "file-a") == []


async def test_a_cancelled_batch_keeps_nothing_of_its_files(store: Store) -> None:
    await store.create_vector_store(a_store(), [])
    batch = FileBatchRecord("vsfb_1", "vs_1", "t1", NOW)
    files = [a_file("file-a", batch_id="vsfb_1"), a_file("file-b", batch_id="vsfb_1")]
    assert await store.add_vector_files(files, batch)
    view = await store.get_file_batch("t1", "vs_1", "vsfb_1")
    assert view is not None and view.counts.in_progress == 2 and not view.record.cancelled
    tasks = await store.take_ingestion("p1", NOW, NOW + 60, 1)
    assert await store.get_file_batch("t2", "vs_1", "vsfb_1") is None
    cancelled = await store.cancel_file_batch("t1", "vs_1", "vsfb_1")
    assert cancelled is not None and cancelled.record.cancelled and cancelled.counts.cancelled == 2
    assert not await store.finish_ingestion(tasks[0], "p1", [Chunk(0, "x", 1, axis(0))], 1)
    assert await store.take_ingestion("p1", NOW + 100, NOW + 160, 10) == []
    listed = await store.list_vector_files(
        "t1",
        "vs_1",
        status="cancelled",
        batch_id="vsfb_1",
        after=None,
        before=None,
        limit=10,
        order="asc",
    )
    assert [f.file_id for f in listed.files] == ["file-a", "file-b"]


async def test_a_file_added_again_starts_again(store: Store) -> None:
    await store.create_vector_store(a_store(), [a_file("file-a")])
    await ingest(store, "p1", {"file-a": [Chunk(0, "old text", 2, axis(0))]})
    assert await store.add_vector_files([a_file("file-a", attributes={"v": 2})])
    again = await store.get_vector_file("t1", "vs_1", "file-a")
    assert again is not None and again.status == "in_progress" and again.attributes == {"v": 2}
    assert await store.vector_file_chunks("t1", "vs_1", "file-a") == []
    view = await store.get_vector_store("t1", "vs_1")
    assert view is not None and view.counts.total == 1


async def test_search_keeps_to_the_files_a_filter_let_through(store: Store) -> None:
    files = [a_file(f"file-{n}", attributes={"n": i}) for i, n in enumerate("abc")]
    await store.create_vector_store(a_store(), files)
    await ingest(
        store,
        "p1",
        {
            "file-a": [Chunk(0, "the quarterly revenue grew", 4, axis(0))],
            "file-b": [Chunk(0, "revenue fell in winter", 4, between(0, 1))],
            "file-c": [Chunk(0, "nothing about money", 3, axis(2))],
        },
    )
    everything = await store.search_chunks(query(axis(0), "revenue"))
    assert [m.file_id for m in everything.by_vector][:2] == ["file-a", "file-b"]
    assert {m.file_id for m in everything.by_keyword} == {"file-a", "file-b"}
    only_b = await store.search_chunks(query(axis(0), "revenue", file_ids=["file-b", "file-c"]))
    assert [m.file_id for m in only_b.by_vector] == ["file-b", "file-c"]
    assert [m.file_id for m in only_b.by_keyword] == ["file-b"]
    none = await store.search_chunks(query(axis(0), "revenue", file_ids=[]))
    assert none.by_vector == [] and none.by_keyword == []
    searchable = await store.searchable_files("t1", ["vs_1"])
    assert sorted(f.file_id for f in searchable) == ["file-a", "file-b", "file-c"]


async def test_stores_and_files_list_in_pages_either_way(store: Store) -> None:
    for n in range(5):
        await store.create_vector_store(a_store(f"vs_{n}", at=NOW + n), [])
    listed = await store.list_vector_stores("t1", after=None, before=None, limit=2, order="desc")
    assert [v.record.id for v in listed.stores] == ["vs_4", "vs_3"] and listed.has_more
    listed = await store.list_vector_stores("t1", after="vs_3", before=None, limit=2, order="desc")
    assert [v.record.id for v in listed.stores] == ["vs_2", "vs_1"] and listed.has_more
    listed = await store.list_vector_stores(
        "t1", after="vs_0", before="vs_3", limit=10, order="asc"
    )
    assert [v.record.id for v in listed.stores] == ["vs_1", "vs_2"] and not listed.has_more
    assert await store.add_vector_files([a_file(f"file-{n}", "vs_1", at=NOW + n) for n in range(3)])
    files = await store.list_vector_files(
        "t1", "vs_1", status=None, batch_id=None, after="file-0", before=None, limit=1, order="asc"
    )
    assert [f.file_id for f in files.files] == ["file-1"] and files.has_more


async def test_a_store_is_updated_touched_and_deleted_with_all_it_holds(store: Store) -> None:
    await store.create_vector_store(a_store(), [a_file("file-a")])
    await ingest(store, "p1", {"file-a": [Chunk(0, "kept text", 2, axis(0))]})
    record = a_store()
    record.name, record.metadata, record.expires_after_days = "renamed", {"x": "y"}, 7
    assert await store.update_vector_store(record)
    await store.touch_vector_stores("t1", ["vs_1"], NOW + 50)
    view = await store.get_vector_store("t1", "vs_1")
    assert view is not None
    assert (view.record.name, view.record.metadata, view.record.expires_after_days) == (
        "renamed",
        {"x": "y"},
        7,
    )
    assert view.record.last_active_at == NOW + 50
    updated = await store.update_vector_file_attributes("t1", "vs_1", "file-a", {"k": True})
    assert updated is not None and updated.attributes == {"k": True}
    assert await store.delete_vector_store("t1", "vs_1")
    assert await store.get_vector_store("t1", "vs_1") is None
    assert await store.get_vector_file("t1", "vs_1", "file-a") is None
    await store.create_vector_store(a_store(), [])
    found = await store.search_chunks(query(axis(0), "kept"))
    assert found.by_vector == [] and found.by_keyword == []


async def test_expired_stores_are_deleted_by_the_sweep(store: Store) -> None:
    lasting, expiring = a_store("vs_1"), a_store("vs_2")
    expiring.expires_after_days = 1
    await store.create_vector_store(lasting, [a_file("file-a")])
    await store.create_vector_store(expiring, [a_file("file-b", "vs_2")])
    assert await store.delete_expired_vector_stores(NOW + 86_399) == 0
    await store.touch_vector_stores("t1", ["vs_2"], NOW + 3_600)  # used: its clock restarts
    assert await store.delete_expired_vector_stores(NOW + 86_401) == 0
    assert await store.delete_expired_vector_stores(NOW + 3_600 + 86_400) == 1
    assert await store.get_vector_store("t1", "vs_2") is None
    assert await store.get_vector_file("t1", "vs_2", "file-b") is None
    assert await store.get_vector_store("t1", "vs_1") is not None


@pytest.mark.parametrize("cube", [True, False], ids=["cube", "unnest"])
async def test_postgresql_ranks_the_same_with_cubes_and_without(
    sql_store: SqlStore, cube: bool
) -> None:
    if sql_store.engine.dialect.name != "postgresql":
        pytest.skip("the cube ranking is PostgreSQL's")
    await sql_store.search_chunks(query(axis(0)))  # reads whether the migration made cubes
    assert sql_store.cube_parts, "Debian's PostgreSQL has `cube`: the migration should use it"
    sql_store.cube_parts = cube
    wide = [math.sqrt(1 / 300)] * 300  # three cubes of 100
    other = [math.sqrt(1 / 300)] * 150 + [-math.sqrt(1 / 300)] * 150
    await sql_store.create_vector_store(a_store(), [a_file("file-a"), a_file("file-b")])
    await ingest(
        sql_store,
        "p1",
        {"file-a": [Chunk(0, "wide", 1, wide)], "file-b": [Chunk(0, "other", 1, other)]},
    )
    found = await sql_store.search_chunks(ChunkQuery("t1", ["vs_1"], wide, [], 10))
    assert [m.file_id for m in found.by_vector] == ["file-a", "file-b"]
    assert found.by_vector[0].score == pytest.approx(1.0, abs=1e-5)
    assert found.by_vector[1].score == pytest.approx(0.0, abs=1e-5)
