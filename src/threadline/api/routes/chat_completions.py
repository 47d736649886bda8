"""/v1/chat/completions"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from threadline.api.admission import admit, with_headers
from threadline.api.audited import audited, read_audited
from threadline.api.deps import CallerDep, ProviderKeyDep, ServicesDep, TenantDep
from threadline.api.json import json_response
from threadline.api.metadata_query import metadata_filter
from threadline.api.routing import JsonRoute, post_directly
from threadline.engine.chat_completions import Chunk
from threadline.errors import ThreadlineError
from threadline.protocol.chat import (
    ChatCompletionCreateParams,
    StoredCompletionsQuery,
    StoredCompletionUpdate,
    StoredMessagesQuery,
)

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/chat/completions", tags=["chat"], route_class=JsonRoute)


@post_directly(router, "")
async def create_chat_completion(
    params: ChatCompletionCreateParams,
    services: ServicesDep,
    caller: CallerDep,
    provider_key: ProviderKeyDep,
) -> Response:
    limits = await admit(services, caller, params.model)
    chat = await services.chat.prepare(
        caller.tenant, params, provider_key=provider_key, payer=caller.payer
    )
    if not params.stream:
        return with_headers(json_response(await services.chat.complete(chat)), limits)
    # A client that leaves stops the upstream call with it (and a completion it did not see
    # end is not stored).
    return StreamingResponse(
        _frames(services.chat.chunks(chat)),
        media_type="text/event-stream; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **limits},
    )


@router.get("")
async def list_stored_completions(
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    query: Annotated[StoredCompletionsQuery, Query()],
) -> Response:
    """The tenant's stored completions (`store: true`), oldest first by default. Filter by
    `model` and `metadata[key]=value` (repeatable)."""
    metadata = metadata_filter(request, query)
    page = await services.stored_completions.list(caller.tenant, query, metadata)
    await read_audited(services, caller, "chat_completions.listed", None)
    return json_response(page)


@router.get("/{completion_id}")
async def retrieve_stored_completion(
    completion_id: str, services: ServicesDep, caller: CallerDep
) -> Response:
    found = await services.stored_completions.retrieve(caller.tenant, completion_id)
    await read_audited(services, caller, "chat_completion.read", completion_id)
    return json_response(found)


@router.post("/{completion_id}")
async def update_stored_completion(
    completion_id: str, params: StoredCompletionUpdate, services: ServicesDep, tenant: TenantDep
) -> Response:
    return json_response(await services.stored_completions.update(tenant, completion_id, params))


@router.delete("/{completion_id}")
async def delete_stored_completion(
    completion_id: str, services: ServicesDep, caller: CallerDep
) -> Response:
    deleted = await services.stored_completions.delete(caller.tenant, completion_id)
    await audited(services, caller, "chat_completion.deleted", completion_id)
    return json_response(deleted)


@router.get("/{completion_id}/export")
async def export_stored_completion(
    completion_id: str, services: ServicesDep, caller: CallerDep
) -> Response:
    """Threadline's addition: the completion as a conversation export, for
    `POST /v1/conversations/import`."""
    exported = await services.stored_completions.export(caller.tenant, completion_id)
    await audited(services, caller, "chat_completion.exported", completion_id)
    return json_response(exported)


@router.get("/{completion_id}/messages")
async def list_stored_messages(
    completion_id: str,
    services: ServicesDep,
    caller: CallerDep,
    query: Annotated[StoredMessagesQuery, Query()],
) -> Response:
    page = await services.stored_completions.messages(caller.tenant, completion_id, query)
    await read_audited(services, caller, "chat_completion.messages_read", completion_id)
    return json_response(page)


async def _frames(chunks: AsyncIterator[Chunk]) -> AsyncIterator[bytes]:
    """OpenAI's framing: `data: <chunk>` lines, then `data: [DONE]`. A failure after the first
    chunk (the status is sent) is an `error` object in the stream, as OpenAI sends it."""
    try:
        async for chunk in chunks:
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
    except ThreadlineError as exc:
        log.warning("chat completion failed upstream: %s (status %d)", exc.code, exc.status_code)
        yield b"data: " + orjson.dumps({"error": exc.to_error_object()}) + b"\n\n"
        return
    yield b"data: [DONE]\n\n"
