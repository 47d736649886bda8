"""`SqlStore`'s vector-store methods: arguments prepared here, each operation one call into the
database (sql/vector_stores.py, sql/vector_search.py)."""

from __future__ import annotations

from typing import Any

from threadline.storage.base import Order
from threadline.storage.sql import vector_search
from threadline.storage.sql import vector_stores as vs
from threadline.storage.sql.databases import Database
from threadline.storage.vector_stores import (
    Chunk,
    ChunkMatches,
    ChunkQuery,
    FileBatchRecord,
    FileBatchView,
    FileStatus,
    IngestionTask,
    VectorFilePage,
    VectorFileRecord,
    VectorStorePage,
    VectorStoreRecord,
    VectorStores,
    VectorStoreView,
)


class SqlVectorStores(VectorStores):
    _db: Database
    cube_parts: bool | None = None
    """Whether this database keeps embeddings as cubes too (read at the first search)."""

    async def create_vector_store(
        self,
        record: VectorStoreRecord,
        files: list[VectorFileRecord],
        batch: FileBatchRecord | None = None,
    ) -> None:
        await self._db.write(
            vs.create_vector_store,
            vs.store_values(record),
            [vs.file_values(f) for f in files],
            None if batch is None else vs.batch_values(batch),
        )

    async def get_vector_store(self, tenant: str, vector_store_id: str) -> VectorStoreView | None:
        return await self._db.read(vs.get_vector_store, tenant, vector_store_id)

    async def list_vector_stores(
        self, tenant: str, *, after: str | None, before: str | None, limit: int, order: Order
    ) -> VectorStorePage:
        return await self._db.read(vs.list_vector_stores, tenant, after, before, limit, order)

    async def update_vector_store(self, record: VectorStoreRecord) -> bool:
        return await self._db.write(vs.update_vector_store, vs.store_values(record))

    async def touch_vector_stores(self, tenant: str, ids: list[str], now: float) -> None:
        await self._db.write(vs.touch_vector_stores, tenant, ids, now)

    async def delete_vector_store(self, tenant: str, vector_store_id: str) -> bool:
        return await self._db.write(vs.delete_vector_store, tenant, vector_store_id)

    async def delete_expired_vector_stores(self, now: float) -> int:
        deleted = 0
        for tenant, vector_store_id in await self._db.read(vs.expired_vector_stores, now):
            deleted += await self.delete_vector_store(tenant, vector_store_id)
        return deleted

    async def add_vector_files(
        self, files: list[VectorFileRecord], batch: FileBatchRecord | None = None
    ) -> bool:
        owner: Any = batch or (files[0] if files else None)
        if owner is None:
            return True
        return await self._db.write(
            vs.add_vector_files,
            owner.tenant,
            owner.vector_store_id,
            [vs.file_values(f) for f in files],
            None if batch is None else vs.batch_values(batch),
        )

    async def get_vector_file(
        self, tenant: str, vector_store_id: str, file_id: str
    ) -> VectorFileRecord | None:
        return await self._db.read(vs.get_vector_file, tenant, vector_store_id, file_id)

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
        return await self._db.read(
            vs.list_vector_files,
            tenant,
            vector_store_id,
            status,
            batch_id,
            after,
            before,
            limit,
            order,
        )

    async def searchable_files(
        self, tenant: str, vector_store_ids: list[str]
    ) -> list[VectorFileRecord]:
        return await self._db.read(vs.searchable_files, tenant, vector_store_ids)

    async def update_vector_file_attributes(
        self, tenant: str, vector_store_id: str, file_id: str, attributes: dict[str, Any] | None
    ) -> VectorFileRecord | None:
        return await self._db.write(
            vs.update_vector_file_attributes, tenant, vector_store_id, file_id, attributes
        )

    async def delete_vector_file(self, tenant: str, vector_store_id: str, file_id: str) -> bool:
        return await self._db.write(vs.delete_vector_file, tenant, vector_store_id, file_id)

    async def vector_file_chunks(
        self, tenant: str, vector_store_id: str, file_id: str
    ) -> list[str] | None:
        return await self._db.read(vs.vector_file_chunks, tenant, vector_store_id, file_id)

    async def get_file_batch(
        self, tenant: str, vector_store_id: str, batch_id: str
    ) -> FileBatchView | None:
        return await self._db.read(vs.get_file_batch, tenant, vector_store_id, batch_id)

    async def cancel_file_batch(
        self, tenant: str, vector_store_id: str, batch_id: str
    ) -> FileBatchView | None:
        return await self._db.write(vs.cancel_file_batch, tenant, vector_store_id, batch_id)

    async def take_ingestion(
        self, owner: str, now: float, lease_until: float, limit: int
    ) -> list[IngestionTask]:
        return await self._db.write(vs.take_ingestion, owner, now, lease_until, limit)

    async def renew_ingestion(self, owner: str, lease_until: float) -> int:
        return await self._db.write(vs.renew_ingestion, owner, lease_until)

    async def finish_ingestion(
        self, task: IngestionTask, owner: str, chunks: list[Chunk], usage_bytes: int
    ) -> bool:
        return await self._db.write(vs.finish_ingestion, task, owner, chunks, usage_bytes)

    async def fail_ingestion(self, task: IngestionTask, owner: str, error: dict[str, str]) -> bool:
        return await self._db.write(vs.fail_ingestion, task, owner, error)

    async def search_chunks(self, query: ChunkQuery) -> ChunkMatches:
        if self.cube_parts is None:
            self.cube_parts = await self._db.read(vector_search.has_cube_parts)
        return await self._db.read(vector_search.search_chunks, query, self.cube_parts)
