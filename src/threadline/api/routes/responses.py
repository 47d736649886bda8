"""/v1/responses"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from threadline.api.admission import admit, with_headers
from threadline.api.audited import audited, read_audited
from threadline.api.deps import (
    CallerDep,
    KeyDefaultStoreDep,
    ProviderKeyDep,
    ServicesDep,
    TenantDep,
    TurnTasksDep,
)
from threadline.api.errors import error_response
from threadline.api.json import json_response
from threadline.api.routing import JsonRoute, post_directly
from threadline.api.sse import event_stream, follow_stream
from threadline.engine.validation import check_includes
from threadline.errors import (
    InvalidRequest,
    ShuttingDown,
)
from threadline.protocol.responses import (
    CompactParams,
    Includable,
    InputTokensParams,
    ListQuery,
    ResponseCreateParams,
)

router = APIRouter(prefix="/v1/responses", tags=["responses"], route_class=JsonRoute)


@post_directly(router, "")
async def create_response(
    params: ResponseCreateParams,
    services: ServicesDep,
    caller: CallerDep,
    tasks: TurnTasksDep,
    provider_key: ProviderKeyDep,
    default_store: KeyDefaultStoreDep,
) -> Response:
    tenant, payer = caller.tenant, caller.payer
    limits = await admit(services, caller, params.model)
    if params.background:
        queued = await services.responses.enqueue(
            tenant, params, provider_key=provider_key, default_store=default_store, payer=payer
        )
        services.background.wake()
        if params.stream:
            following = services.background.follow(tenant, queued["id"], -1, queued_here=True)
            followed = follow_stream(following)
            return with_headers(followed, limits)
        return with_headers(json_response(queued), limits)
    turn = await services.responses.prepare(
        tenant, params, provider_key=provider_key, default_store=default_store, payer=payer
    )
    run = services.responses.run(turn)
    if params.stream:
        return with_headers(event_stream(tasks, run.events), limits)
    created = await tasks.run_to_end(services.responses.complete(run))
    if created is None:
        # Shutdown ended the turn; its outcome says whether (and where) it was stored.
        stopped = run.outcome.failure if run.outcome is not None else None
        return error_response(stopped or ShuttingDown(), limits)
    if created.failure is not None:
        return error_response(created.failure, limits)
    return with_headers(json_response(created.response), limits)


@router.post("/input_tokens")
async def count_input_tokens(
    params: InputTokensParams,
    services: ServicesDep,
    tenant: TenantDep,
    provider_key: ProviderKeyDep,
) -> Response:
    count = await services.responses.count_input_tokens(
        tenant, params.as_create(), provider_key=provider_key
    )
    return json_response({"object": "response.input_tokens", "input_tokens": count.tokens})


@router.post("/compact")
async def compact_response(
    params: CompactParams, services: ServicesDep, caller: CallerDep, provider_key: ProviderKeyDep
) -> Response:
    limits = await admit(services, caller, params.model)
    compacted = await services.responses.compact(
        caller.tenant, params.as_create(), provider_key=provider_key, payer=caller.payer
    )
    return with_headers(json_response(compacted), limits)


@router.get("/{response_id}")
async def retrieve_response(
    response_id: str,
    services: ServicesDep,
    caller: CallerDep,
    include: Annotated[list[Includable] | None, Query()] = None,
    stream: bool = False,
    starting_after: int | None = None,
    include_obfuscation: bool | None = None,
) -> Response:
    check_includes(include)
    tenant = caller.tenant
    # No obfuscation is ever added to delta events, so `include_obfuscation` changes nothing.
    if stream:
        await services.background.check_resumable(tenant, response_id)
        await read_audited(services, caller, "response.read", response_id, stream=True)
        after = -1 if starting_after is None else starting_after
        return follow_stream(services.background.follow(tenant, response_id, after=after))
    if starting_after is not None:
        raise InvalidRequest(
            "'starting_after' resumes a stream: send it with 'stream=true'.",
            param="starting_after",
        )
    found = await services.responses.retrieve(tenant, response_id, include)
    await read_audited(services, caller, "response.read", response_id)
    return json_response(found)


@router.delete("/{response_id}")
async def delete_response(response_id: str, services: ServicesDep, caller: CallerDep) -> Response:
    deleted = await services.responses.delete(caller.tenant, response_id)
    await audited(services, caller, "response.deleted", response_id)
    return json_response(deleted)


@router.post("/{response_id}/cancel")
async def cancel_response(response_id: str, services: ServicesDep, tenant: TenantDep) -> Response:
    return json_response(await services.background.cancel(tenant, response_id))


@router.get("/{response_id}/input_items")
async def list_input_items(
    response_id: str,
    services: ServicesDep,
    caller: CallerDep,
    query: Annotated[ListQuery, Query()],
) -> Response:
    check_includes(query.include)
    page = await services.responses.list_input_items(caller.tenant, response_id, query)
    await read_audited(services, caller, "response.input_items_read", response_id)
    return json_response(page)
