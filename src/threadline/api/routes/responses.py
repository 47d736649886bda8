"""/v1/responses"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from threadline.api.deps import ServicesDep, TenantDep, TurnTasksDep
from threadline.api.errors import error_response
from threadline.api.json import json_response
from threadline.api.routing import JsonRoute
from threadline.api.sse import event_stream
from threadline.errors import InvalidRequest, ShuttingDown, UnsupportedParameter
from threadline.protocol.responses import Includable, ListQuery, ResponseCreateParams

router = APIRouter(prefix="/v1/responses", tags=["responses"], route_class=JsonRoute)


@router.post("")
async def create_response(
    params: ResponseCreateParams, services: ServicesDep, tenant: TenantDep, tasks: TurnTasksDep
) -> Response:
    turn = await services.responses.prepare(tenant, params)
    if params.stream:
        return event_stream(tasks, services.responses.stream(turn))
    created = await tasks.run_to_end(services.responses.complete(turn))
    if created is None:
        stopped = ShuttingDown()
        if turn.saved:
            stopped.message += f" (The failed response was stored as '{turn.record.id}'.)"
        return error_response(stopped)
    if created.failure is not None:
        return error_response(created.failure)
    return json_response(created.response)


@router.get("/{response_id}")
async def retrieve_response(
    response_id: str,
    services: ServicesDep,
    tenant: TenantDep,
    include: Annotated[list[Includable] | None, Query(alias="include[]")] = None,
    stream: bool = False,
    starting_after: int | None = None,
) -> Response:
    if stream:
        raise UnsupportedParameter(
            "Streaming a stored response is only possible for background responses, which "
            "are not supported yet.",
            param="stream",
        )
    return json_response(await services.responses.retrieve(tenant, response_id))


@router.delete("/{response_id}")
async def delete_response(response_id: str, services: ServicesDep, tenant: TenantDep) -> Response:
    return json_response(await services.responses.delete(tenant, response_id))


@router.post("/{response_id}/cancel")
async def cancel_response(response_id: str, services: ServicesDep, tenant: TenantDep) -> Response:
    await services.responses.retrieve(tenant, response_id)  # 404 when absent
    raise InvalidRequest(
        "Only responses created with background=true can be cancelled.", param="response_id"
    )


@router.get("/{response_id}/input_items")
async def list_input_items(
    response_id: str,
    services: ServicesDep,
    tenant: TenantDep,
    query: Annotated[ListQuery, Query()],
) -> Response:
    return json_response(await services.responses.list_input_items(tenant, response_id, query))
