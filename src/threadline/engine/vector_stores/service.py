"""The Vector Stores API's use cases (`/v1/vector_stores/...`): stores, their files, file
batches, file contents and search. Files are ingested in the background (ingestion.py); these
calls only record what is asked."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from threadline import ids
from threadline.engine.clock import Clock, system_clock
from threadline.engine.files.service import file_not_found
from threadline.engine.pages import list_page
from threadline.engine.validation import check_metadata
from threadline.engine.vector_stores.chunking import chunking_of
from threadline.engine.vector_stores.filters import check_filter
from threadline.engine.vector_stores.objects import (
    file_batch_object,
    search_page,
    vector_file_object,
    vector_store_object,
)
from threadline.engine.vector_stores.search import SearchRequest, VectorSearch
from threadline.errors import InvalidRequest, NotFound
from threadline.protocol.vector_stores import (
    FileAttributesUpdateParams,
    FileBatchCreateParams,
    FileListQuery,
    ListQuery,
    VectorFileCreateParams,
    VectorSearchParams,
    VectorStoreCreateParams,
    VectorStoreUpdateParams,
)
from threadline.storage.base import Store
from threadline.storage.files import FileStore
from threadline.storage.vector_stores import FileBatchRecord, VectorFileRecord, VectorStoreRecord


def store_not_found(vector_store_id: str) -> NotFound:
    return NotFound(f"No vector store found with id '{vector_store_id}'.", param="vector_store_id")


def _file_missing(vector_store_id: str, file_id: str) -> NotFound:
    return NotFound(
        f"No file found with id '{file_id}' in vector store '{vector_store_id}'.",
        param="file_id",
    )


class VectorStoreService:
    def __init__(
        self,
        store: Store,
        files: FileStore,
        search: VectorSearch,
        *,
        embedding_model: str,
        on_files_added: Callable[[], None] = lambda: None,
        clock: Clock = system_clock,
    ) -> None:
        """`on_files_added` is told when files await ingestion (to take them at once)."""
        self._store = store
        self._files = files
        self._search = search
        self._embedding_model = embedding_model
        self._clock = clock
        self._files_added = on_files_added

    # -- stores --------------------------------------------------------------------------------
    async def create(self, tenant: str, params: VectorStoreCreateParams) -> dict[str, Any]:
        if params.metadata is not None:
            check_metadata(params.metadata)
        chunking = chunking_of(params.chunking_strategy)
        now = self._clock()
        record = VectorStoreRecord(
            id=ids.new_id(ids.VECTOR_STORE),
            tenant=tenant,
            name=params.name,
            created_at=now,
            last_active_at=now,
            embedding_model=self._embedding_model,
            metadata=dict(params.metadata or {}),
            description=params.description,
            expires_after_days=params.expires_after.days if params.expires_after else None,
        )
        files = [
            await self._file_record(tenant, record.id, file_id, chunking, None, f"file_ids[{i}]")
            for i, file_id in enumerate(dict.fromkeys(params.file_ids or ()))
        ]
        await self._store.create_vector_store(record, files)
        if files:
            self._files_added()
        return await self.retrieve(tenant, record.id)

    async def list(self, tenant: str, query: ListQuery) -> dict[str, Any]:
        page = await self._store.list_vector_stores(
            tenant, after=query.after, before=query.before, limit=query.limit, order=query.order
        )
        now = self._clock()
        return list_page([vector_store_object(v, now) for v in page.stores], has_more=page.has_more)

    async def retrieve(self, tenant: str, vector_store_id: str) -> dict[str, Any]:
        view = await self._store.get_vector_store(tenant, vector_store_id)
        if view is None:
            raise store_not_found(vector_store_id)
        return vector_store_object(view, self._clock())

    async def modify(
        self, tenant: str, vector_store_id: str, params: VectorStoreUpdateParams
    ) -> dict[str, Any]:
        view = await self._store.get_vector_store(tenant, vector_store_id)
        if view is None:
            raise store_not_found(vector_store_id)
        record = view.record
        given = params.model_fields_set
        if "name" in given:
            record.name = params.name
        if "metadata" in given:
            if params.metadata is not None:
                check_metadata(params.metadata)
            record.metadata = dict(params.metadata or {})
        if "expires_after" in given:
            record.expires_after_days = params.expires_after.days if params.expires_after else None
            record.last_active_at = self._clock()
        if not await self._store.update_vector_store(record):
            raise store_not_found(vector_store_id)
        return await self.retrieve(tenant, vector_store_id)

    async def delete(self, tenant: str, vector_store_id: str) -> dict[str, Any]:
        if not await self._store.delete_vector_store(tenant, vector_store_id):
            raise store_not_found(vector_store_id)
        return {"id": vector_store_id, "object": "vector_store.deleted", "deleted": True}

    # -- files ---------------------------------------------------------------------------------
    async def _file_record(
        self,
        tenant: str,
        vector_store_id: str,
        file_id: str,
        chunking: dict[str, int],
        attributes: dict[str, Any] | None,
        param: str,
        batch_id: str | None = None,
    ) -> VectorFileRecord:
        uploaded = await self._files.get(tenant, file_id, self._clock())
        if uploaded is None:
            raise file_not_found(file_id, param=param)
        return VectorFileRecord(
            vector_store_id=vector_store_id,
            file_id=file_id,
            tenant=tenant,
            filename=uploaded.filename,
            created_at=self._clock(),
            chunking=chunking,
            attributes=attributes,
            batch_id=batch_id,
        )

    async def add_file(
        self, tenant: str, vector_store_id: str, params: VectorFileCreateParams
    ) -> dict[str, Any]:
        await self._require_store(tenant, vector_store_id)
        record = await self._file_record(
            tenant,
            vector_store_id,
            params.file_id,
            chunking_of(params.chunking_strategy),
            params.attributes,
            "file_id",
        )
        if not await self._store.add_vector_files([record]):
            raise store_not_found(vector_store_id)
        self._files_added()
        return vector_file_object(record)

    async def _require_store(self, tenant: str, vector_store_id: str) -> None:
        if await self._store.get_vector_store(tenant, vector_store_id) is None:
            raise store_not_found(vector_store_id)

    async def list_files(
        self,
        tenant: str,
        vector_store_id: str,
        query: FileListQuery,
        batch_id: str | None = None,
    ) -> dict[str, Any]:
        await self._require_store(tenant, vector_store_id)
        page = await self._store.list_vector_files(
            tenant,
            vector_store_id,
            status=query.filter,
            batch_id=batch_id,
            after=query.after,
            before=query.before,
            limit=query.limit,
            order=query.order,
        )
        return list_page([vector_file_object(f) for f in page.files], has_more=page.has_more)

    async def retrieve_file(
        self, tenant: str, vector_store_id: str, file_id: str
    ) -> dict[str, Any]:
        record = await self._store.get_vector_file(tenant, vector_store_id, file_id)
        if record is None:
            raise _file_missing(vector_store_id, file_id)
        return vector_file_object(record)

    async def update_file(
        self, tenant: str, vector_store_id: str, file_id: str, params: FileAttributesUpdateParams
    ) -> dict[str, Any]:
        record = await self._store.update_vector_file_attributes(
            tenant, vector_store_id, file_id, params.attributes
        )
        if record is None:
            raise _file_missing(vector_store_id, file_id)
        return vector_file_object(record)

    async def delete_file(self, tenant: str, vector_store_id: str, file_id: str) -> dict[str, Any]:
        if not await self._store.delete_vector_file(tenant, vector_store_id, file_id):
            raise _file_missing(vector_store_id, file_id)
        return {"id": file_id, "object": "vector_store.file.deleted", "deleted": True}

    async def file_content(self, tenant: str, vector_store_id: str, file_id: str) -> dict[str, Any]:
        texts = await self._store.vector_file_chunks(tenant, vector_store_id, file_id)
        if texts is None:
            raise _file_missing(vector_store_id, file_id)
        return {
            "object": "vector_store.file_content.page",
            "data": [{"type": "text", "text": text} for text in texts],
            "has_more": False,
            "next_page": None,
        }

    # -- batches -------------------------------------------------------------------------------
    async def create_batch(
        self, tenant: str, vector_store_id: str, params: FileBatchCreateParams
    ) -> dict[str, Any]:
        if (params.file_ids is None) == (params.files is None):
            raise InvalidRequest("Give exactly one of 'file_ids' and 'files'.", param="file_ids")
        await self._require_store(tenant, vector_store_id)
        batch = FileBatchRecord(
            id=f"vsfb_{secrets.token_hex(24)}",
            vector_store_id=vector_store_id,
            tenant=tenant,
            created_at=self._clock(),
        )
        wanted: list[VectorFileCreateParams] = params.files or [
            VectorFileCreateParams(
                file_id=file_id,
                chunking_strategy=params.chunking_strategy,
                attributes=params.attributes,
            )
            for file_id in params.file_ids or ()
        ]
        records: dict[str, VectorFileRecord] = {}
        for index, entry in enumerate(wanted):
            where = f"files[{index}]" if params.files else f"file_ids[{index}]"
            records[entry.file_id] = await self._file_record(
                tenant,
                vector_store_id,
                entry.file_id,
                chunking_of(entry.chunking_strategy, f"{where}.chunking_strategy"),
                entry.attributes,
                where,
                batch.id,
            )
        if not await self._store.add_vector_files(list(records.values()), batch):
            raise store_not_found(vector_store_id)
        self._files_added()
        return await self.retrieve_batch(tenant, vector_store_id, batch.id)

    async def retrieve_batch(
        self, tenant: str, vector_store_id: str, batch_id: str
    ) -> dict[str, Any]:
        view = await self._store.get_file_batch(tenant, vector_store_id, batch_id)
        if view is None:
            raise _batch_missing(batch_id)
        return file_batch_object(view)

    async def cancel_batch(
        self, tenant: str, vector_store_id: str, batch_id: str
    ) -> dict[str, Any]:
        view = await self._store.cancel_file_batch(tenant, vector_store_id, batch_id)
        if view is None:
            raise _batch_missing(batch_id)
        return file_batch_object(view)

    async def list_batch_files(
        self, tenant: str, vector_store_id: str, batch_id: str, query: FileListQuery
    ) -> dict[str, Any]:
        if await self._store.get_file_batch(tenant, vector_store_id, batch_id) is None:
            raise _batch_missing(batch_id)
        return await self.list_files(tenant, vector_store_id, query, batch_id)

    # -- search --------------------------------------------------------------------------------
    async def search(
        self,
        tenant: str,
        vector_store_id: str,
        params: VectorSearchParams,
        *,
        api_key: str | None = None,
    ) -> dict[str, Any]:
        queries = [params.query] if isinstance(params.query, str) else params.query
        if not all(q.strip() for q in queries):
            raise InvalidRequest("'query' must not be empty.", param="query")
        if params.filters is not None:
            check_filter(params.filters)
        stores = await self._search.stores(tenant, [vector_store_id], "vector_store_id")
        outcome = await self._search.search(
            SearchRequest(
                tenant=tenant,
                vector_store_ids=[vector_store_id],
                queries=queries,
                max_results=params.max_num_results,
                filters=params.filters,
                ranking=params.ranking_options,
                rewrite=params.rewrite_query,
                api_key=api_key,
            ),
            stores,
        )
        return search_page(outcome)


def _batch_missing(batch_id: str) -> NotFound:
    return NotFound(f"No file batch found with id '{batch_id}'.", param="batch_id")
