"""/v1/vector_stores: OpenAI's Vector Stores API (stores, their files, file batches, search)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from threadline.api.audited import audited
from threadline.api.deps import CallerDep, ProviderKeyDep, ServicesDep, TenantDep
from threadline.api.json import json_response
from threadline.api.routing import JsonRoute
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

router = APIRouter(prefix="/v1/vector_stores", tags=["vector stores"], route_class=JsonRoute)


@router.post("")
async def create_vector_store(
    params: VectorStoreCreateParams, services: ServicesDep, tenant: TenantDep
) -> Response:
    return json_response(await services.vector_stores.create(tenant, params))


@router.get("")
async def list_vector_stores(
    services: ServicesDep, tenant: TenantDep, query: Annotated[ListQuery, Query()]
) -> Response:
    return json_response(await services.vector_stores.list(tenant, query))


@router.get("/{vector_store_id}")
async def retrieve_vector_store(
    vector_store_id: str, services: ServicesDep, tenant: TenantDep
) -> Response:
    return json_response(await services.vector_stores.retrieve(tenant, vector_store_id))


@router.post("/{vector_store_id}")
async def modify_vector_store(
    vector_store_id: str,
    params: VectorStoreUpdateParams,
    services: ServicesDep,
    tenant: TenantDep,
) -> Response:
    return json_response(await services.vector_stores.modify(tenant, vector_store_id, params))


@router.delete("/{vector_store_id}")
async def delete_vector_store(
    vector_store_id: str, services: ServicesDep, caller: CallerDep
) -> Response:
    deleted = await services.vector_stores.delete(caller.tenant, vector_store_id)
    await audited(services, caller, "vector_store.deleted", vector_store_id)
    return json_response(deleted)


@router.post("/{vector_store_id}/search")
async def search_vector_store(
    vector_store_id: str,
    params: VectorSearchParams,
    services: ServicesDep,
    tenant: TenantDep,
    provider_key: ProviderKeyDep,
) -> Response:
    found = await services.vector_stores.search(
        tenant, vector_store_id, params, api_key=provider_key
    )
    return json_response(found)


@router.post("/{vector_store_id}/files")
async def create_vector_store_file(
    vector_store_id: str,
    params: VectorFileCreateParams,
    services: ServicesDep,
    tenant: TenantDep,
) -> Response:
    return json_response(await services.vector_stores.add_file(tenant, vector_store_id, params))


@router.get("/{vector_store_id}/files")
async def list_vector_store_files(
    vector_store_id: str,
    services: ServicesDep,
    tenant: TenantDep,
    query: Annotated[FileListQuery, Query()],
) -> Response:
    return json_response(await services.vector_stores.list_files(tenant, vector_store_id, query))


@router.get("/{vector_store_id}/files/{file_id}")
async def retrieve_vector_store_file(
    vector_store_id: str, file_id: str, services: ServicesDep, tenant: TenantDep
) -> Response:
    found = await services.vector_stores.retrieve_file(tenant, vector_store_id, file_id)
    return json_response(found)


@router.post("/{vector_store_id}/files/{file_id}")
async def update_vector_store_file_attributes(
    vector_store_id: str,
    file_id: str,
    params: FileAttributesUpdateParams,
    services: ServicesDep,
    tenant: TenantDep,
) -> Response:
    updated = await services.vector_stores.update_file(tenant, vector_store_id, file_id, params)
    return json_response(updated)


@router.delete("/{vector_store_id}/files/{file_id}")
async def delete_vector_store_file(
    vector_store_id: str, file_id: str, services: ServicesDep, tenant: TenantDep
) -> Response:
    deleted = await services.vector_stores.delete_file(tenant, vector_store_id, file_id)
    return json_response(deleted)


@router.get("/{vector_store_id}/files/{file_id}/content")
async def retrieve_vector_store_file_content(
    vector_store_id: str, file_id: str, services: ServicesDep, tenant: TenantDep
) -> Response:
    content = await services.vector_stores.file_content(tenant, vector_store_id, file_id)
    return json_response(content)


@router.post("/{vector_store_id}/file_batches")
async def create_vector_store_file_batch(
    vector_store_id: str,
    params: FileBatchCreateParams,
    services: ServicesDep,
    tenant: TenantDep,
) -> Response:
    created = await services.vector_stores.create_batch(tenant, vector_store_id, params)
    return json_response(created)


@router.get("/{vector_store_id}/file_batches/{batch_id}")
async def retrieve_vector_store_file_batch(
    vector_store_id: str, batch_id: str, services: ServicesDep, tenant: TenantDep
) -> Response:
    found = await services.vector_stores.retrieve_batch(tenant, vector_store_id, batch_id)
    return json_response(found)


@router.post("/{vector_store_id}/file_batches/{batch_id}/cancel")
async def cancel_vector_store_file_batch(
    vector_store_id: str, batch_id: str, services: ServicesDep, tenant: TenantDep
) -> Response:
    cancelled = await services.vector_stores.cancel_batch(tenant, vector_store_id, batch_id)
    return json_response(cancelled)


@router.get("/{vector_store_id}/file_batches/{batch_id}/files")
async def list_vector_store_file_batch_files(
    vector_store_id: str,
    batch_id: str,
    services: ServicesDep,
    tenant: TenantDep,
    query: Annotated[FileListQuery, Query()],
) -> Response:
    found = await services.vector_stores.list_batch_files(tenant, vector_store_id, batch_id, query)
    return json_response(found)
