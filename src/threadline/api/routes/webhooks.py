"""/v1/webhook_endpoints: OpenAI's webhook endpoints API, for the events of background
responses."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from threadline.api.audited import audited
from threadline.api.deps import CallerDep, ServicesDep, TenantDep
from threadline.api.json import json_response
from threadline.api.routing import JsonRoute
from threadline.protocol.webhooks import (
    WebhookEndpointCreateParams,
    WebhookEndpointListQuery,
    WebhookEndpointTestParams,
    WebhookEndpointUpdateParams,
)

router = APIRouter(prefix="/v1/webhook_endpoints", tags=["webhooks"], route_class=JsonRoute)


@router.post("")
async def create_webhook_endpoint(
    params: WebhookEndpointCreateParams, services: ServicesDep, caller: CallerDep
) -> Response:
    created = await services.webhooks.create(
        caller.tenant, name=params.name, url=params.url, event_types=params.event_types
    )
    await audited(services, caller, "webhook_endpoint.created", created["id"])
    return json_response(created)


@router.get("")
async def list_webhook_endpoints(
    services: ServicesDep, tenant: TenantDep, query: Annotated[WebhookEndpointListQuery, Query()]
) -> Response:
    page = await services.webhooks.list_page(tenant, after=query.after, limit=query.limit)
    return json_response(page)


@router.get("/{webhook_endpoint_id}")
async def retrieve_webhook_endpoint(
    webhook_endpoint_id: str, services: ServicesDep, tenant: TenantDep
) -> Response:
    return json_response(await services.webhooks.retrieve(tenant, webhook_endpoint_id))


@router.post("/{webhook_endpoint_id}")
async def update_webhook_endpoint(
    webhook_endpoint_id: str,
    params: WebhookEndpointUpdateParams,
    services: ServicesDep,
    tenant: TenantDep,
) -> Response:
    updated = await services.webhooks.update(
        tenant,
        webhook_endpoint_id,
        name=params.name,
        url=params.url,
        event_types=params.event_types,
    )
    return json_response(updated)


@router.delete("/{webhook_endpoint_id}")
async def delete_webhook_endpoint(
    webhook_endpoint_id: str, services: ServicesDep, caller: CallerDep
) -> Response:
    deleted = await services.webhooks.delete(caller.tenant, webhook_endpoint_id)
    await audited(services, caller, "webhook_endpoint.deleted", webhook_endpoint_id)
    return json_response(deleted)


@router.post("/{webhook_endpoint_id}/rotate_secret")
async def rotate_webhook_secret(
    webhook_endpoint_id: str, services: ServicesDep, tenant: TenantDep
) -> Response:
    return json_response(await services.webhooks.rotate_secret(tenant, webhook_endpoint_id))


@router.post("/{webhook_endpoint_id}/test")
async def test_webhook_endpoint(
    webhook_endpoint_id: str,
    params: WebhookEndpointTestParams,
    services: ServicesDep,
    tenant: TenantDep,
) -> Response:
    tested = await services.webhooks.test(tenant, webhook_endpoint_id, params.event_type)
    return json_response(tested)
