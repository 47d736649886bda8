"""The vector stores of MemoryStore: records in dicts, chunks ranked in the process
(storage/vector_ranking.py). Records are copied in and out, as a database would."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from threadline.storage.base import Order
from threadline.storage.vector_ranking import RankableChunk, by_keywords, by_vector
from threadline.storage.vector_stores import (
    Chunk,
    ChunkMatches,
    ChunkQuery,
    FileBatchRecord,
    FileBatchView,
    FileCounts,
    FileStatus,
    IngestionTask,
    VectorFilePage,
    VectorFileRecord,
    VectorStorePage,
    VectorStoreRecord,
    VectorStores,
    VectorStoreView,
    page_of,
)


@dataclass(slots=True)
class _File:
    record: VectorFileRecord
    owner: str | None = None
    lease_until: float = 0.0
    chunks: list[Chunk] = field(default_factory=list)


class MemoryVectorStores(VectorStores):
    def __init__(self) -> None:
        self._vector_stores: dict[str, VectorStoreRecord] = {}
        self._vector_files: dict[tuple[str, str], _File] = {}
        self._file_batches: dict[str, FileBatchRecord] = {}

    def _store(self, tenant: str, vector_store_id: str) -> VectorStoreRecord | None:
        found = self._vector_stores.get(vector_store_id)
        return found if found is not None and found.tenant == tenant else None

    def _files_of(self, vector_store_id: str) -> list[_File]:
        return [f for (vs, _), f in self._vector_files.items() if vs == vector_store_id]

    def _view(self, record: VectorStoreRecord) -> VectorStoreView:
        counts = FileCounts()
        usage = 0
        for found in self._files_of(record.id):
            counts.add(found.record.status)
            usage += found.record.usage_bytes
        return VectorStoreView(copy.deepcopy(record), counts, usage)

    async def create_vector_store(
        self,
        record: VectorStoreRecord,
        files: list[VectorFileRecord],
        batch: FileBatchRecord | None = None,
    ) -> None:
        self._vector_stores[record.id] = copy.deepcopy(record)
        await self.add_vector_files(files, batch)

    async def get_vector_store(self, tenant: str, vector_store_id: str) -> VectorStoreView | None:
        found = self._store(tenant, vector_store_id)
        return None if found is None else self._view(found)

    async def list_vector_stores(
        self, tenant: str, *, after: str | None, before: str | None, limit: int, order: Order
    ) -> VectorStorePage:
        mine = [r for r in self._vector_stores.values() if r.tenant == tenant]
        records, more = page_of(
            mine,
            lambda r: (r.created_at, r.id),
            lambda r: r.id,
            after=after,
            before=before,
            limit=limit,
            order=order,
        )
        return VectorStorePage([self._view(r) for r in records], more)

    async def update_vector_store(self, record: VectorStoreRecord) -> bool:
        if self._store(record.tenant, record.id) is None:
            return False
        self._vector_stores[record.id] = copy.deepcopy(record)
        return True

    async def touch_vector_stores(self, tenant: str, ids: list[str], now: float) -> None:
        for vector_store_id in ids:
            found = self._store(tenant, vector_store_id)
            if found is not None:
                found.last_active_at = max(found.last_active_at, now)

    async def delete_vector_store(self, tenant: str, vector_store_id: str) -> bool:
        if self._store(tenant, vector_store_id) is None:
            return False
        del self._vector_stores[vector_store_id]
        for key in [k for k in self._vector_files if k[0] == vector_store_id]:
            del self._vector_files[key]
        for batch_id in [
            b.id for b in self._file_batches.values() if b.vector_store_id == vector_store_id
        ]:
            del self._file_batches[batch_id]
        return True

    async def delete_expired_vector_stores(self, now: float) -> int:
        expired = [
            r for r in self._vector_stores.values() if (r.expires_at() or float("inf")) <= now
        ]
        for record in expired:
            await self.delete_vector_store(record.tenant, record.id)
        return len(expired)

    async def add_vector_files(
        self, files: list[VectorFileRecord], batch: FileBatchRecord | None = None
    ) -> bool:
        owner = batch or (files[0] if files else None)
        if owner is None:
            return True
        if self._store(owner.tenant, owner.vector_store_id) is None:
            return False
        if batch is not None:
            self._file_batches[batch.id] = copy.deepcopy(batch)
        for record in files:
            self._vector_files[(record.vector_store_id, record.file_id)] = _File(
                copy.deepcopy(record)
            )
        return True

    def _file(self, tenant: str, vector_store_id: str, file_id: str) -> _File | None:
        found = self._vector_files.get((vector_store_id, file_id))
        return found if found is not None and found.record.tenant == tenant else None

    async def get_vector_file(
        self, tenant: str, vector_store_id: str, file_id: str
    ) -> VectorFileRecord | None:
        found = self._file(tenant, vector_store_id, file_id)
        return None if found is None else copy.deepcopy(found.record)

    async def list_vector_files(
        self,
        tenant: str,
        vector_store_id: str,
        *,
        status: FileStatus | None,
        batch_id: str | None,
        after: str | None,
        before: str | None,
        limit: int,
        order: Order,
    ) -> VectorFilePage:
        mine = [
            f.record
            for f in self._files_of(vector_store_id)
            if f.record.tenant == tenant
            and (status is None or f.record.status == status)
            and (batch_id is None or f.record.batch_id == batch_id)
        ]
        records, more = page_of(
            mine,
            lambda r: (r.created_at, r.file_id),
            lambda r: r.file_id,
            after=after,
            before=before,
            limit=limit,
            order=order,
        )
        return VectorFilePage(copy.deepcopy(records), more)

    async def searchable_files(
        self, tenant: str, vector_store_ids: list[str]
    ) -> list[VectorFileRecord]:
        return [
            copy.deepcopy(f.record)
            for vector_store_id in vector_store_ids
            if self._store(tenant, vector_store_id) is not None
            for f in self._files_of(vector_store_id)
            if f.record.status == "completed"
        ]

    async def update_vector_file_attributes(
        self, tenant: str, vector_store_id: str, file_id: str, attributes: dict[str, Any] | None
    ) -> VectorFileRecord | None:
        found = self._file(tenant, vector_store_id, file_id)
        if found is None:
            return None
        found.record.attributes = copy.deepcopy(attributes)
        return copy.deepcopy(found.record)

    async def delete_vector_file(self, tenant: str, vector_store_id: str, file_id: str) -> bool:
        if self._file(tenant, vector_store_id, file_id) is None:
            return False
        del self._vector_files[(vector_store_id, file_id)]
        return True

    async def vector_file_chunks(
        self, tenant: str, vector_store_id: str, file_id: str
    ) -> list[str] | None:
        found = self._file(tenant, vector_store_id, file_id)
        return None if found is None else [c.text for c in found.chunks]

    def _batch_view(self, batch: FileBatchRecord) -> FileBatchView:
        counts = FileCounts()
        for found in self._files_of(batch.vector_store_id):
            if found.record.batch_id == batch.id:
                counts.add(found.record.status)
        return FileBatchView(copy.deepcopy(batch), counts)

    def _batch(self, tenant: str, vector_store_id: str, batch_id: str) -> FileBatchRecord | None:
        found = self._file_batches.get(batch_id)
        if found is None or found.tenant != tenant or found.vector_store_id != vector_store_id:
            return None
        return found

    async def get_file_batch(
        self, tenant: str, vector_store_id: str, batch_id: str
    ) -> FileBatchView | None:
        found = self._batch(tenant, vector_store_id, batch_id)
        return None if found is None else self._batch_view(found)

    async def cancel_file_batch(
        self, tenant: str, vector_store_id: str, batch_id: str
    ) -> FileBatchView | None:
        found = self._batch(tenant, vector_store_id, batch_id)
        if found is None:
            return None
        found.cancelled = True
        for file in self._files_of(vector_store_id):
            if file.record.batch_id == batch_id and file.record.status == "in_progress":
                file.record.status = "cancelled"
                file.owner = None
        return self._batch_view(found)

    async def take_ingestion(
        self, owner: str, now: float, lease_until: float, limit: int
    ) -> list[IngestionTask]:
        taken: list[IngestionTask] = []
        for found in self._vector_files.values():
            if len(taken) >= limit:
                break
            record = found.record
            if record.status != "in_progress" or (found.owner and found.lease_until > now):
                continue
            store = self._vector_stores.get(record.vector_store_id)
            if store is None:
                continue
            found.owner, found.lease_until = owner, lease_until
            taken.append(
                IngestionTask(
                    record.tenant,
                    record.vector_store_id,
                    record.file_id,
                    dict(record.chunking),
                    store.embedding_model,
                )
            )
        return taken

    async def renew_ingestion(self, owner: str, lease_until: float) -> int:
        held = [
            f
            for f in self._vector_files.values()
            if f.owner == owner and f.record.status == "in_progress"
        ]
        for found in held:
            found.lease_until = lease_until
        return len(held)

    def _held(self, task: IngestionTask, owner: str) -> _File | None:
        found = self._file(task.tenant, task.vector_store_id, task.file_id)
        if found is None or found.owner != owner or found.record.status != "in_progress":
            return None
        return found

    async def finish_ingestion(
        self, task: IngestionTask, owner: str, chunks: list[Chunk], usage_bytes: int
    ) -> bool:
        found = self._held(task, owner)
        if found is None:
            return False
        found.chunks = copy.deepcopy(chunks)
        found.record.status, found.record.usage_bytes, found.owner = "completed", usage_bytes, None
        return True

    async def fail_ingestion(self, task: IngestionTask, owner: str, error: dict[str, str]) -> bool:
        found = self._held(task, owner)
        if found is None:
            return False
        found.record.status, found.record.last_error, found.owner = "failed", dict(error), None
        return True

    async def search_chunks(self, query: ChunkQuery) -> ChunkMatches:
        allowed = None if query.file_ids is None else set(query.file_ids)
        chunks = [
            RankableChunk(vector_store_id, found.record.file_id, c.ordinal, c.text, c.embedding)
            for vector_store_id in query.vector_store_ids
            if self._store(query.tenant, vector_store_id) is not None
            for found in self._files_of(vector_store_id)
            if found.record.status == "completed"
            and (allowed is None or found.record.file_id in allowed)
            for c in found.chunks
        ]
        return ChunkMatches(
            by_vector(chunks, query.vector, query.limit),
            by_keywords(chunks, query.keywords, query.limit),
        )
