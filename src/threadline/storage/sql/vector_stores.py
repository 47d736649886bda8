"""The vector stores of the SQL store (storage/vector_stores.py), each operation a function of a
sync `Connection` run in one call (a write in one transaction). Searching is
sql/vector_search.py."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import and_, delete, false, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.elements import ColumnElement

from threadline.storage.base import Order
from threadline.storage.encoding import dumps
from threadline.storage.sql.tables import vector_chunks as chunks
from threadline.storage.sql.tables import vector_file_batches as batches
from threadline.storage.sql.tables import vector_store_files as files
from threadline.storage.sql.tables import vector_stores as stores
from threadline.storage.sql.vector_search import embedding_value
from threadline.storage.vector_stores import (
    Chunk,
    FileBatchRecord,
    FileBatchView,
    FileCounts,
    FileStatus,
    IngestionTask,
    VectorFilePage,
    VectorFileRecord,
    VectorStorePage,
    VectorStoreRecord,
    VectorStoreView,
)


def store_values(record: VectorStoreRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "tenant": record.tenant,
        "name": record.name,
        "description": record.description,
        "created_at": record.created_at,
        "last_active_at": record.last_active_at,
        "embedding_model": record.embedding_model,
        "metadata": dumps(record.metadata),
        "expires_after_days": record.expires_after_days,
    }


def _store_record(row: Row[Any]) -> VectorStoreRecord:
    return VectorStoreRecord(
        id=row.id,
        tenant=row.tenant,
        name=row.name,
        created_at=row.created_at,
        last_active_at=row.last_active_at,
        embedding_model=row.embedding_model,
        metadata=orjson.loads(row.metadata),
        description=row.description,
        expires_after_days=row.expires_after_days,
    )


def file_values(record: VectorFileRecord) -> dict[str, Any]:
    return {
        "vector_store_id": record.vector_store_id,
        "file_id": record.file_id,
        "tenant": record.tenant,
        "filename": record.filename,
        "created_at": record.created_at,
        "status": record.status,
        "chunking": dumps(record.chunking),
        "attributes": None if record.attributes is None else dumps(record.attributes),
        "usage_bytes": record.usage_bytes,
        "last_error": None if record.last_error is None else dumps(record.last_error),
        "batch_id": record.batch_id,
        "owner": None,
        "lease_until": None,
    }


def _file_record(row: Row[Any]) -> VectorFileRecord:
    return VectorFileRecord(
        vector_store_id=row.vector_store_id,
        file_id=row.file_id,
        tenant=row.tenant,
        filename=row.filename,
        created_at=row.created_at,
        chunking=orjson.loads(row.chunking),
        attributes=None if row.attributes is None else orjson.loads(row.attributes),
        status=row.status,
        usage_bytes=row.usage_bytes,
        last_error=None if row.last_error is None else orjson.loads(row.last_error),
        batch_id=row.batch_id,
    )


def batch_values(batch: FileBatchRecord) -> dict[str, Any]:
    return {
        "id": batch.id,
        "vector_store_id": batch.vector_store_id,
        "tenant": batch.tenant,
        "created_at": batch.created_at,
        "cancelled": batch.cancelled,
    }


# -- stores ------------------------------------------------------------------------------------
def create_vector_store(
    conn: Connection,
    store_row: dict[str, Any],
    file_rows: list[dict[str, Any]],
    batch_row: dict[str, Any] | None,
) -> None:
    conn.execute(insert(stores), store_row)
    _attach(conn, file_rows, batch_row)


def _owned_store(conn: Connection, tenant: str, vector_store_id: str) -> bool:
    found = conn.scalar(
        select(stores.c.id).where(stores.c.id == vector_store_id, stores.c.tenant == tenant)
    )
    return found is not None


def _usage(conn: Connection, ids: list[str]) -> dict[str, tuple[FileCounts, int]]:
    totals: dict[str, tuple[FileCounts, int]] = {i: (FileCounts(), 0) for i in ids}
    if not ids:
        return totals
    grouped = conn.execute(
        select(
            files.c.vector_store_id,
            files.c.status,
            func.count(),
            func.coalesce(func.sum(files.c.usage_bytes), 0),
        )
        .where(files.c.vector_store_id.in_(ids))
        .group_by(files.c.vector_store_id, files.c.status)
    ).all()
    for vector_store_id, status, count, usage in grouped:
        counts, total = totals[vector_store_id]
        counts.add(status, int(count))
        totals[vector_store_id] = (counts, total + int(usage))
    return totals


def get_vector_store(conn: Connection, tenant: str, vector_store_id: str) -> VectorStoreView | None:
    row = conn.execute(
        select(stores).where(stores.c.id == vector_store_id, stores.c.tenant == tenant)
    ).first()
    if row is None:
        return None
    counts, usage = _usage(conn, [row.id])[row.id]
    return VectorStoreView(_store_record(row), counts, usage)


def _keyset(
    columns: tuple[ColumnElement[Any], ColumnElement[Any]],
    anchor: Any,
    *,
    later: bool,
) -> ColumnElement[bool]:
    at, ident = columns
    if anchor is None:
        return false()  # a cursor naming nothing leaves nothing
    first, second = anchor[0], anchor[1]
    if later:
        return or_(at > first, and_(at == first, ident > second))
    return or_(at < first, and_(at == first, ident < second))


def _page_bounds(
    conn: Connection,
    key: tuple[ColumnElement[Any], ColumnElement[Any]],
    anchor_of: Any,
    *,
    after: str | None,
    before: str | None,
    order: Order,
) -> list[ColumnElement[bool]]:
    bounds: list[ColumnElement[bool]] = []
    if after is not None:
        bounds.append(_keyset(key, conn.execute(anchor_of(after)).first(), later=order == "asc"))
    if before is not None:
        bounds.append(_keyset(key, conn.execute(anchor_of(before)).first(), later=order != "asc"))
    return bounds


def list_vector_stores(
    conn: Connection, tenant: str, after: str | None, before: str | None, limit: int, order: Order
) -> VectorStorePage:
    c = stores.c
    key = (c.created_at, c.id)
    bounds = _page_bounds(
        conn,
        key,
        lambda ident: select(c.created_at, c.id).where(c.id == ident, c.tenant == tenant),
        after=after,
        before=before,
        order=order,
    )
    ordering = [c.created_at, c.id] if order == "asc" else [c.created_at.desc(), c.id.desc()]
    rows = conn.execute(
        select(stores).where(c.tenant == tenant, *bounds).order_by(*ordering).limit(limit + 1)
    ).all()
    usage = _usage(conn, [row.id for row in rows[:limit]])
    views = [VectorStoreView(_store_record(row), *usage[row.id]) for row in rows[:limit]]
    return VectorStorePage(views, len(rows) > limit)


def update_vector_store(conn: Connection, values: dict[str, Any]) -> bool:
    done = conn.execute(
        update(stores)
        .where(stores.c.id == values["id"], stores.c.tenant == values["tenant"])
        .values({k: v for k, v in values.items() if k not in ("id", "tenant", "embedding_model")})
    )
    return done.rowcount > 0


def touch_vector_stores(conn: Connection, tenant: str, ids: list[str], now: float) -> None:
    conn.execute(
        update(stores)
        .where(stores.c.id.in_(ids), stores.c.tenant == tenant, stores.c.last_active_at < now)
        .values(last_active_at=now)
    )


def delete_vector_store(conn: Connection, tenant: str, vector_store_id: str) -> bool:
    if not _owned_store(conn, tenant, vector_store_id):
        return False
    conn.execute(delete(chunks).where(chunks.c.vector_store_id == vector_store_id))
    conn.execute(delete(files).where(files.c.vector_store_id == vector_store_id))
    conn.execute(delete(batches).where(batches.c.vector_store_id == vector_store_id))
    conn.execute(delete(stores).where(stores.c.id == vector_store_id))
    return True


def expired_vector_stores(conn: Connection, now: float) -> list[tuple[str, str]]:
    c = stores.c
    rows = conn.execute(
        select(c.tenant, c.id).where(
            c.expires_after_days.is_not(None),
            c.last_active_at + c.expires_after_days * 86_400 <= now,
        )
    ).all()
    return [(row.tenant, row.id) for row in rows]


# -- files -------------------------------------------------------------------------------------
def _attach(
    conn: Connection, file_rows: list[dict[str, Any]], batch_row: dict[str, Any] | None
) -> None:
    if batch_row is not None:
        conn.execute(insert(batches), batch_row)
    for row in file_rows:  # a file added again starts again
        _forget_file(conn, row["vector_store_id"], row["file_id"])
    if file_rows:
        conn.execute(insert(files), file_rows)


def _forget_file(conn: Connection, vector_store_id: str, file_id: str) -> int:
    conn.execute(
        delete(chunks).where(
            chunks.c.vector_store_id == vector_store_id, chunks.c.file_id == file_id
        )
    )
    done = conn.execute(
        delete(files).where(files.c.vector_store_id == vector_store_id, files.c.file_id == file_id)
    )
    return int(done.rowcount)


def add_vector_files(
    conn: Connection,
    tenant: str,
    vector_store_id: str,
    file_rows: list[dict[str, Any]],
    batch_row: dict[str, Any] | None,
) -> bool:
    if not _owned_store(conn, tenant, vector_store_id):
        return False
    _attach(conn, file_rows, batch_row)
    return True


def _file_key(tenant: str, vector_store_id: str, file_id: str) -> list[ColumnElement[bool]]:
    return [
        files.c.vector_store_id == vector_store_id,
        files.c.file_id == file_id,
        files.c.tenant == tenant,
    ]


def get_vector_file(
    conn: Connection, tenant: str, vector_store_id: str, file_id: str
) -> VectorFileRecord | None:
    row = conn.execute(select(files).where(*_file_key(tenant, vector_store_id, file_id))).first()
    return None if row is None else _file_record(row)


def list_vector_files(
    conn: Connection,
    tenant: str,
    vector_store_id: str,
    status: FileStatus | None,
    batch_id: str | None,
    after: str | None,
    before: str | None,
    limit: int,
    order: Order,
) -> VectorFilePage:
    c = files.c
    mine = [c.vector_store_id == vector_store_id, c.tenant == tenant]
    if status is not None:
        mine.append(c.status == status)
    if batch_id is not None:
        mine.append(c.batch_id == batch_id)
    bounds = _page_bounds(
        conn,
        (c.created_at, c.file_id),
        lambda ident: select(c.created_at, c.file_id).where(*mine[:2], c.file_id == ident),
        after=after,
        before=before,
        order=order,
    )
    ordering = (
        [c.created_at, c.file_id] if order == "asc" else [c.created_at.desc(), c.file_id.desc()]
    )
    rows = conn.execute(
        select(files).where(*mine, *bounds).order_by(*ordering).limit(limit + 1)
    ).all()
    return VectorFilePage([_file_record(row) for row in rows[:limit]], len(rows) > limit)


def searchable_files(
    conn: Connection, tenant: str, vector_store_ids: list[str]
) -> list[VectorFileRecord]:
    rows = conn.execute(
        select(files).where(
            files.c.vector_store_id.in_(vector_store_ids),
            files.c.tenant == tenant,
            files.c.status == "completed",
        )
    ).all()
    return [_file_record(row) for row in rows]


def update_vector_file_attributes(
    conn: Connection,
    tenant: str,
    vector_store_id: str,
    file_id: str,
    attributes: dict[str, Any] | None,
) -> VectorFileRecord | None:
    conn.execute(
        update(files)
        .where(*_file_key(tenant, vector_store_id, file_id))
        .values(attributes=None if attributes is None else dumps(attributes))
    )
    return get_vector_file(conn, tenant, vector_store_id, file_id)


def delete_vector_file(conn: Connection, tenant: str, vector_store_id: str, file_id: str) -> bool:
    if get_vector_file(conn, tenant, vector_store_id, file_id) is None:
        return False
    return _forget_file(conn, vector_store_id, file_id) > 0


def vector_file_chunks(
    conn: Connection, tenant: str, vector_store_id: str, file_id: str
) -> list[str] | None:
    if get_vector_file(conn, tenant, vector_store_id, file_id) is None:
        return None
    return list(
        conn.scalars(
            select(chunks.c.text)
            .where(chunks.c.vector_store_id == vector_store_id, chunks.c.file_id == file_id)
            .order_by(chunks.c.ordinal)
        )
    )


# -- batches -----------------------------------------------------------------------------------
def get_file_batch(
    conn: Connection, tenant: str, vector_store_id: str, batch_id: str
) -> FileBatchView | None:
    row = conn.execute(
        select(batches).where(
            batches.c.id == batch_id,
            batches.c.vector_store_id == vector_store_id,
            batches.c.tenant == tenant,
        )
    ).first()
    if row is None:
        return None
    counts = FileCounts()
    for status, count in conn.execute(
        select(files.c.status, func.count())
        .where(files.c.vector_store_id == vector_store_id, files.c.batch_id == batch_id)
        .group_by(files.c.status)
    ).all():
        counts.add(status, int(count))
    record = FileBatchRecord(
        row.id, row.vector_store_id, row.tenant, row.created_at, bool(row.cancelled)
    )
    return FileBatchView(record, counts)


def cancel_file_batch(
    conn: Connection, tenant: str, vector_store_id: str, batch_id: str
) -> FileBatchView | None:
    if get_file_batch(conn, tenant, vector_store_id, batch_id) is None:
        return None
    conn.execute(update(batches).where(batches.c.id == batch_id).values(cancelled=True))
    conn.execute(
        update(files)
        .where(
            files.c.vector_store_id == vector_store_id,
            files.c.batch_id == batch_id,
            files.c.status == "in_progress",
        )
        .values(status="cancelled", owner=None, lease_until=None)
    )
    return get_file_batch(conn, tenant, vector_store_id, batch_id)


# -- ingestion ---------------------------------------------------------------------------------
def take_ingestion(
    conn: Connection, owner: str, now: float, lease_until: float, limit: int
) -> list[IngestionTask]:
    free = (
        select(
            files.c.tenant,
            files.c.vector_store_id,
            files.c.file_id,
            files.c.chunking,
            stores.c.embedding_model,
        )
        .join(stores, stores.c.id == files.c.vector_store_id)
        .where(
            files.c.status == "in_progress",
            or_(files.c.lease_until.is_(None), files.c.lease_until <= now),
        )
        .order_by(files.c.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=files)
    )
    tasks = [
        IngestionTask(
            row.tenant,
            row.vector_store_id,
            row.file_id,
            orjson.loads(row.chunking),
            row.embedding_model,
        )
        for row in conn.execute(free).all()
    ]
    for task in tasks:
        conn.execute(
            update(files)
            .where(files.c.vector_store_id == task.vector_store_id, files.c.file_id == task.file_id)
            .values(owner=owner, lease_until=lease_until)
        )
    return tasks


def renew_ingestion(conn: Connection, owner: str, lease_until: float) -> int:
    done = conn.execute(
        update(files)
        .where(files.c.owner == owner, files.c.status == "in_progress")
        .values(lease_until=lease_until)
    )
    return int(done.rowcount)


def _end_held(conn: Connection, task: IngestionTask, owner: str, values: dict[str, Any]) -> bool:
    done = conn.execute(
        update(files)
        .where(
            *_file_key(task.tenant, task.vector_store_id, task.file_id),
            files.c.owner == owner,
            files.c.status == "in_progress",
        )
        .values(owner=None, lease_until=None, **values)
    )
    return done.rowcount > 0


def finish_ingestion(
    conn: Connection, task: IngestionTask, owner: str, chunk_list: list[Chunk], usage_bytes: int
) -> bool:
    if not _end_held(conn, task, owner, {"status": "completed", "usage_bytes": usage_bytes}):
        return False
    conn.execute(
        delete(chunks).where(
            chunks.c.vector_store_id == task.vector_store_id, chunks.c.file_id == task.file_id
        )
    )
    if chunk_list:
        dialect = conn.dialect.name
        conn.execute(
            insert(chunks),
            [
                {
                    "vector_store_id": task.vector_store_id,
                    "file_id": task.file_id,
                    "ordinal": chunk.ordinal,
                    "text": chunk.text,
                    "tokens": chunk.tokens,
                    "embedding": embedding_value(dialect, chunk.embedding),
                }
                for chunk in chunk_list
            ],
        )
    return True


def fail_ingestion(
    conn: Connection, task: IngestionTask, owner: str, error: dict[str, str]
) -> bool:
    return _end_held(conn, task, owner, {"status": "failed", "last_error": dumps(error)})
