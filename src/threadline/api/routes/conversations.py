"""/v1/conversations: OpenAI's Conversations API, plus listing, closing, export and import."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from starlette.responses import Response

from threadline.api.audited import audited, read_audited
from threadline.api.deps import CallerDep, ServicesDep, TenantDep
from threadline.api.json import json_response
from threadline.api.metadata_query import metadata_filter
from threadline.api.routing import JsonRoute
from threadline.engine.validation import check_includes
from threadline.protocol.conversations import (
    ChatMessage,
    ConversationCreateParams,
    ConversationExport,
    ConversationsListQuery,
    ConversationUpdateParams,
    ItemsCreateParams,
    ItemsListQuery,
)
from threadline.protocol.responses import Includable

router = APIRouter(prefix="/v1/conversations", tags=["conversations"], route_class=JsonRoute)


@router.post("")
async def create_conversation(
    services: ServicesDep,
    tenant: TenantDep,
    params: Annotated[ConversationCreateParams | None, Body()] = None,
) -> Response:
    params = params or ConversationCreateParams()
    return json_response(await services.conversations.create(tenant, params))


@router.get("")
async def list_conversations(
    request: Request,
    services: ServicesDep,
    tenant: TenantDep,
    query: Annotated[ConversationsListQuery, Query()],
) -> Response:
    """Threadline's addition: the tenant's conversations, most recently active first.
    Filter by `metadata[key]=value` (repeatable), `status`, and time ranges (unix seconds)."""
    metadata = metadata_filter(request, query)
    return json_response(await services.conversations.list(tenant, query, metadata))


@router.post("/import")
async def import_conversation(
    services: ServicesDep,
    caller: CallerDep,
    document: Annotated[ConversationExport | list[ChatMessage], Body()],
) -> Response:
    """Recreate a conversation from an export, or from a list of chat messages."""
    tenant = caller.tenant
    if isinstance(document, list):
        created = await services.transfer.import_chat(tenant, document)
    else:
        created = await services.transfer.import_export(tenant, document)
    await audited(services, caller, "conversation.imported", created["id"])
    return json_response(created)


@router.get("/{conversation_id}")
async def retrieve_conversation(
    conversation_id: str, services: ServicesDep, tenant: TenantDep
) -> Response:
    return json_response(await services.conversations.retrieve(tenant, conversation_id))


@router.post("/{conversation_id}")
async def update_conversation(
    conversation_id: str, params: ConversationUpdateParams, services: ServicesDep, tenant: TenantDep
) -> Response:
    return json_response(await services.conversations.update(tenant, conversation_id, params))


@router.delete("/{conversation_id}")
async def delete_conversation(
    conversation_id: str, services: ServicesDep, caller: CallerDep
) -> Response:
    deleted = await services.conversations.delete(caller.tenant, conversation_id)
    await audited(services, caller, "conversation.deleted", conversation_id)
    return json_response(deleted)


@router.post("/{conversation_id}/close")
async def close_conversation(
    conversation_id: str, services: ServicesDep, tenant: TenantDep
) -> Response:
    return json_response(await services.conversations.close(tenant, conversation_id))


@router.get("/{conversation_id}/export")
async def export_conversation(
    conversation_id: str, services: ServicesDep, caller: CallerDep
) -> Response:
    exported = await services.transfer.export(caller.tenant, conversation_id)
    await audited(services, caller, "conversation.exported", conversation_id)
    return json_response(exported)


@router.post("/{conversation_id}/items")
async def create_items(
    conversation_id: str,
    params: ItemsCreateParams,
    services: ServicesDep,
    tenant: TenantDep,
    include: Annotated[list[Includable] | None, Query()] = None,
) -> Response:
    check_includes(include)
    return json_response(
        await services.conversations.add_items(tenant, conversation_id, params, include)
    )


@router.get("/{conversation_id}/items")
async def list_items(
    conversation_id: str,
    services: ServicesDep,
    caller: CallerDep,
    query: Annotated[ItemsListQuery, Query()],
) -> Response:
    check_includes(query.include)
    page = await services.conversations.list_items(caller.tenant, conversation_id, query)
    await read_audited(services, caller, "conversation.items_read", conversation_id)
    return json_response(page)


@router.get("/{conversation_id}/items/{item_id}")
async def retrieve_item(
    conversation_id: str,
    item_id: str,
    services: ServicesDep,
    caller: CallerDep,
    include: Annotated[list[Includable] | None, Query()] = None,
) -> Response:
    check_includes(include)
    item = await services.conversations.get_item(caller.tenant, conversation_id, item_id, include)
    await read_audited(services, caller, "conversation.item_read", conversation_id, item_id=item_id)
    return json_response(item)


@router.delete("/{conversation_id}/items/{item_id}")
async def delete_item(
    conversation_id: str, item_id: str, services: ServicesDep, caller: CallerDep
) -> Response:
    left = await services.conversations.delete_item(caller.tenant, conversation_id, item_id)
    await audited(services, caller, "conversation.item_deleted", conversation_id, item_id=item_id)
    return json_response(left)
