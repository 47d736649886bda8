"""The vector stores of the MongoDB store: `vector_stores`, `vector_store_files` (`_id` is
`<store>:<file>`), `vector_file_batches` and `vector_chunks`.

MongoDB's own vector search is Atlas's (or a `mongot` beside the server), which a plain replica
set does not have; so the chunks of the stores searched (those of the files a filter let
through) are read and ranked in the server process (storage/vector_ranking.py): exact, and
fine for stores of tens of thousands of chunks, the size a self-hosted MongoDB deployment of
Threadline serves. A store's chunks are written with its file's completion, in one transaction.
"""

from __future__ import annotations

from typing import Any

from threadline.storage.base import Order
from threadline.storage.mongo.connection import MongoConnection, Session
from threadline.storage.mongo.documents import Document
from threadline.storage.mongo.schema import (
    VECTOR_CHUNKS,
    VECTOR_FILE_BATCHES,
    VECTOR_STORE_FILES,
    VECTOR_STORES,
)
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


def _store_document(record: VectorStoreRecord) -> Document:
    return {
        "_id": record.id,
        "tenant": record.tenant,
        "name": record.name,
        "description": record.description,
        "created_at": record.created_at,
        "last_active_at": record.last_active_at,
        "embedding_model": record.embedding_model,
        "metadata": dict(record.metadata),
        "expires_after_days": record.expires_after_days,
    }


def _store_record(document: Document) -> VectorStoreRecord:
    return VectorStoreRecord(
        id=document["_id"],
        tenant=document["tenant"],
        name=document.get("name"),
        created_at=document["created_at"],
        last_active_at=document["last_active_at"],
        embedding_model=document["embedding_model"],
        metadata=dict(document.get("metadata") or {}),
        description=document.get("description"),
        expires_after_days=document.get("expires_after_days"),
    )


def _file_document(record: VectorFileRecord) -> Document:
    return {
        "_id": f"{record.vector_store_id}:{record.file_id}",
        "vector_store_id": record.vector_store_id,
        "file_id": record.file_id,
        "tenant": record.tenant,
        "filename": record.filename,
        "created_at": record.created_at,
        "status": record.status,
        "chunking": dict(record.chunking),
        "attributes": record.attributes,
        "usage_bytes": record.usage_bytes,
        "last_error": record.last_error,
        "batch_id": record.batch_id,
        "owner": None,
        "lease_until": None,
    }


def _file_record(document: Document) -> VectorFileRecord:
    return VectorFileRecord(
        vector_store_id=document["vector_store_id"],
        file_id=document["file_id"],
        tenant=document["tenant"],
        filename=document["filename"],
        created_at=document["created_at"],
        chunking=dict(document["chunking"]),
        attributes=document.get("attributes"),
        status=document["status"],
        usage_bytes=int(document.get("usage_bytes") or 0),
        last_error=document.get("last_error"),
        batch_id=document.get("batch_id"),
    )


def _batch_record(document: Document) -> FileBatchRecord:
    return FileBatchRecord(
        document["_id"],
        document["vector_store_id"],
        document["tenant"],
        document["created_at"],
        bool(document.get("cancelled")),
    )


class VectorMethods(MongoConnection, VectorStores):
    async def _counts(self, query: Document) -> tuple[FileCounts, int]:
        counts, usage = FileCounts(), 0
        async for document in self._db[VECTOR_STORE_FILES].find(
            query, projection={"status": 1, "usage_bytes": 1}
        ):
            counts.add(document["status"])
            usage += int(document.get("usage_bytes") or 0)
        return counts, usage

    async def _view(self, document: Document) -> VectorStoreView:
        counts, usage = await self._counts({"vector_store_id": document["_id"]})
        return VectorStoreView(_store_record(document), counts, usage)

    async def _owned(self, tenant: str, vector_store_id: str, session: Session | None) -> bool:
        found = await self._db[VECTOR_STORES].find_one(
            {"_id": vector_store_id, "tenant": tenant}, projection={"_id": 1}, session=session
        )
        return found is not None

    async def _attach(
        self, session: Session, files: list[VectorFileRecord], batch: FileBatchRecord | None
    ) -> None:
        if batch is not None:
            await self._db[VECTOR_FILE_BATCHES].insert_one(
                {
                    "_id": batch.id,
                    "vector_store_id": batch.vector_store_id,
                    "tenant": batch.tenant,
                    "created_at": batch.created_at,
                    "cancelled": batch.cancelled,
                },
                session=session,
            )
        for record in files:  # a file added again starts again
            await self._forget_file(session, record.vector_store_id, record.file_id)
        if files:
            await self._db[VECTOR_STORE_FILES].insert_many(
                [_file_document(f) for f in files], session=session
            )

    async def _forget_file(self, session: Session, vector_store_id: str, file_id: str) -> bool:
        await self._db[VECTOR_CHUNKS].delete_many(
            {"vector_store_id": vector_store_id, "file_id": file_id}, session=session
        )
        done = await self._db[VECTOR_STORE_FILES].delete_one(
            {"_id": f"{vector_store_id}:{file_id}"}, session=session
        )
        return done.deleted_count > 0

    async def create_vector_store(
        self,
        record: VectorStoreRecord,
        files: list[VectorFileRecord],
        batch: FileBatchRecord | None = None,
    ) -> None:
        async def work(session: Session) -> None:
            await self._db[VECTOR_STORES].insert_one(_store_document(record), session=session)
            await self._attach(session, files, batch)

        await self.transaction(work)

    async def get_vector_store(self, tenant: str, vector_store_id: str) -> VectorStoreView | None:
        found = await self._db[VECTOR_STORES].find_one({"_id": vector_store_id, "tenant": tenant})
        return None if found is None else await self._view(found)

    async def list_vector_stores(
        self, tenant: str, *, after: str | None, before: str | None, limit: int, order: Order
    ) -> VectorStorePage:
        documents = await self._db[VECTOR_STORES].find({"tenant": tenant}).to_list()
        chosen, more = page_of(
            documents,
            lambda d: (d["created_at"], d["_id"]),
            lambda d: d["_id"],
            after=after,
            before=before,
            limit=limit,
            order=order,
        )
        return VectorStorePage([await self._view(d) for d in chosen], more)

    async def update_vector_store(self, record: VectorStoreRecord) -> bool:
        document = _store_document(record)
        for fixed in ("_id", "tenant", "embedding_model", "created_at"):
            document.pop(fixed)
        done = await self._db[VECTOR_STORES].update_one(
            {"_id": record.id, "tenant": record.tenant}, {"$set": document}
        )
        return done.matched_count > 0

    async def touch_vector_stores(self, tenant: str, ids: list[str], now: float) -> None:
        await self._db[VECTOR_STORES].update_many(
            {"_id": {"$in": ids}, "tenant": tenant, "last_active_at": {"$lt": now}},
            {"$set": {"last_active_at": now}},
        )

    async def delete_vector_store(self, tenant: str, vector_store_id: str) -> bool:
        async def work(session: Session) -> bool:
            if not await self._owned(tenant, vector_store_id, session):
                return False
            mine = {"vector_store_id": vector_store_id}
            for collection in (VECTOR_CHUNKS, VECTOR_STORE_FILES, VECTOR_FILE_BATCHES):
                await self._db[collection].delete_many(mine, session=session)
            await self._db[VECTOR_STORES].delete_one({"_id": vector_store_id}, session=session)
            return True

        return await self.transaction(work)

    async def delete_expired_vector_stores(self, now: float) -> int:
        expiring = (
            await self._db[VECTOR_STORES].find({"expires_after_days": {"$ne": None}}).to_list()
        )
        deleted = 0
        for document in expiring:
            record = _store_record(document)
            expires_at = record.expires_at()
            if expires_at is not None and expires_at <= now:
                deleted += await self.delete_vector_store(record.tenant, record.id)
        return deleted

    async def add_vector_files(
        self, files: list[VectorFileRecord], batch: FileBatchRecord | None = None
    ) -> bool:
        owner: Any = batch or (files[0] if files else None)
        if owner is None:
            return True

        async def work(session: Session) -> bool:
            if not await self._owned(owner.tenant, owner.vector_store_id, session):
                return False
            await self._attach(session, files, batch)
            return True

        return await self.transaction(work)

    async def get_vector_file(
        self, tenant: str, vector_store_id: str, file_id: str
    ) -> VectorFileRecord | None:
        found = await self._db[VECTOR_STORE_FILES].find_one(
            {"_id": f"{vector_store_id}:{file_id}", "tenant": tenant}
        )
        return None if found is None else _file_record(found)

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
        query: Document = {"vector_store_id": vector_store_id, "tenant": tenant}
        if status is not None:
            query["status"] = status
        if batch_id is not None:
            query["batch_id"] = batch_id
        documents = await self._db[VECTOR_STORE_FILES].find(query).to_list()
        chosen, more = page_of(
            documents,
            lambda d: (d["created_at"], d["file_id"]),
            lambda d: d["file_id"],
            after=after,
            before=before,
            limit=limit,
            order=order,
        )
        return VectorFilePage([_file_record(d) for d in chosen], more)

    async def searchable_files(
        self, tenant: str, vector_store_ids: list[str]
    ) -> list[VectorFileRecord]:
        documents = (
            await self._db[VECTOR_STORE_FILES]
            .find(
                {
                    "vector_store_id": {"$in": vector_store_ids},
                    "tenant": tenant,
                    "status": "completed",
                }
            )
            .to_list()
        )
        return [_file_record(d) for d in documents]

    async def update_vector_file_attributes(
        self, tenant: str, vector_store_id: str, file_id: str, attributes: dict[str, Any] | None
    ) -> VectorFileRecord | None:
        await self._db[VECTOR_STORE_FILES].update_one(
            {"_id": f"{vector_store_id}:{file_id}", "tenant": tenant},
            {"$set": {"attributes": attributes}},
        )
        return await self.get_vector_file(tenant, vector_store_id, file_id)

    async def delete_vector_file(self, tenant: str, vector_store_id: str, file_id: str) -> bool:
        async def work(session: Session) -> bool:
            found = await self._db[VECTOR_STORE_FILES].find_one(
                {"_id": f"{vector_store_id}:{file_id}", "tenant": tenant}, session=session
            )
            return found is not None and await self._forget_file(session, vector_store_id, file_id)

        return await self.transaction(work)

    async def vector_file_chunks(
        self, tenant: str, vector_store_id: str, file_id: str
    ) -> list[str] | None:
        if await self.get_vector_file(tenant, vector_store_id, file_id) is None:
            return None
        documents = (
            await self._db[VECTOR_CHUNKS]
            .find({"vector_store_id": vector_store_id, "file_id": file_id})
            .to_list()
        )
        return [d["text"] for d in sorted(documents, key=lambda d: d["ordinal"])]

    async def get_file_batch(
        self, tenant: str, vector_store_id: str, batch_id: str
    ) -> FileBatchView | None:
        found = await self._db[VECTOR_FILE_BATCHES].find_one(
            {"_id": batch_id, "vector_store_id": vector_store_id, "tenant": tenant}
        )
        if found is None:
            return None
        counts, _ = await self._counts({"vector_store_id": vector_store_id, "batch_id": batch_id})
        return FileBatchView(_batch_record(found), counts)

    async def cancel_file_batch(
        self, tenant: str, vector_store_id: str, batch_id: str
    ) -> FileBatchView | None:
        async def work(session: Session) -> bool:
            done = await self._db[VECTOR_FILE_BATCHES].update_one(
                {"_id": batch_id, "vector_store_id": vector_store_id, "tenant": tenant},
                {"$set": {"cancelled": True}},
                session=session,
            )
            if done.matched_count == 0:
                return False
            await self._db[VECTOR_STORE_FILES].update_many(
                {
                    "vector_store_id": vector_store_id,
                    "batch_id": batch_id,
                    "status": "in_progress",
                },
                {"$set": {"status": "cancelled", "owner": None, "lease_until": None}},
                session=session,
            )
            return True

        if not await self.transaction(work):
            return None
        return await self.get_file_batch(tenant, vector_store_id, batch_id)

    async def take_ingestion(
        self, owner: str, now: float, lease_until: float, limit: int
    ) -> list[IngestionTask]:
        free = {
            "status": "in_progress",
            "$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}],
        }
        candidates = (
            await self._db[VECTOR_STORE_FILES].find(free).sort("created_at", 1).to_list(limit)
        )
        tasks: list[IngestionTask] = []
        for candidate in candidates:
            taken = await self._db[VECTOR_STORE_FILES].find_one_and_update(
                {"_id": candidate["_id"], **free},
                {"$set": {"owner": owner, "lease_until": lease_until}},
            )
            store = await self._db[VECTOR_STORES].find_one({"_id": candidate["vector_store_id"]})
            if taken is None or store is None:
                continue
            tasks.append(
                IngestionTask(
                    taken["tenant"],
                    taken["vector_store_id"],
                    taken["file_id"],
                    dict(taken["chunking"]),
                    store["embedding_model"],
                )
            )
        return tasks

    async def renew_ingestion(self, owner: str, lease_until: float) -> int:
        done = await self._db[VECTOR_STORE_FILES].update_many(
            {"owner": owner, "status": "in_progress"}, {"$set": {"lease_until": lease_until}}
        )
        return int(done.modified_count)

    async def _end_held(
        self, session: Session, task: IngestionTask, owner: str, values: Document
    ) -> bool:
        done = await self._db[VECTOR_STORE_FILES].update_one(
            {
                "_id": f"{task.vector_store_id}:{task.file_id}",
                "tenant": task.tenant,
                "owner": owner,
                "status": "in_progress",
            },
            {"$set": {"owner": None, "lease_until": None, **values}},
            session=session,
        )
        return done.matched_count > 0

    async def finish_ingestion(
        self, task: IngestionTask, owner: str, chunks: list[Chunk], usage_bytes: int
    ) -> bool:
        async def work(session: Session) -> bool:
            values = {"status": "completed", "usage_bytes": usage_bytes}
            if not await self._end_held(session, task, owner, values):
                return False
            mine = {"vector_store_id": task.vector_store_id, "file_id": task.file_id}
            await self._db[VECTOR_CHUNKS].delete_many(mine, session=session)
            if chunks:
                await self._db[VECTOR_CHUNKS].insert_many(
                    [
                        {
                            **mine,
                            "tenant": task.tenant,
                            "ordinal": c.ordinal,
                            "text": c.text,
                            "tokens": c.tokens,
                            "embedding": list(c.embedding),
                        }
                        for c in chunks
                    ],
                    session=session,
                )
            return True

        return await self.transaction(work)

    async def fail_ingestion(self, task: IngestionTask, owner: str, error: dict[str, str]) -> bool:
        async def work(session: Session) -> bool:
            return await self._end_held(
                session, task, owner, {"status": "failed", "last_error": dict(error)}
            )

        return await self.transaction(work)

    async def search_chunks(self, query: ChunkQuery) -> ChunkMatches:
        owned = (
            await self._db[VECTOR_STORES]
            .find(
                {"_id": {"$in": query.vector_store_ids}, "tenant": query.tenant},
                projection={"_id": 1},
            )
            .to_list()
        )
        wanted: Document = {"vector_store_id": {"$in": [d["_id"] for d in owned]}}
        if query.file_ids is not None:
            wanted["file_id"] = {"$in": query.file_ids}
        chunks = [
            RankableChunk(
                d["vector_store_id"], d["file_id"], d["ordinal"], d["text"], d["embedding"]
            )
            async for d in self._db[VECTOR_CHUNKS].find(wanted)
        ]
        return ChunkMatches(
            by_vector(chunks, query.vector, query.limit),
            by_keywords(chunks, query.keywords, query.limit),
        )
