"""A tenant's vector stores and webhook endpoints (with their latest deliveries): listed, and
deleted when the operator says so (audited as the API's deletions are)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse

from threadline.api.console.fields import confirmed, field
from threadline.api.console.guard import ConsoleRoute, FormDep, OperatorDep
from threadline.api.console.rendering import render
from threadline.engine.api_keys import OPEN_TENANT

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

SHOWN = 100
DELIVERIES = 20


@router.get("/resources")
async def resources(request: Request, operator: OperatorDep, tenant: str = OPEN_TENANT) -> Response:
    store = operator.services.store
    stores = await store.list_vector_stores(
        tenant, after=None, before=None, limit=SHOWN, order="desc"
    )
    return render(
        request,
        "resources.html",
        title="Vector stores and webhooks",
        op=operator,
        tenants=await operator.tenants(),
        tenant=tenant,
        vector_stores=stores.stores,
        more_vector_stores=stores.has_more,
        endpoints=await store.list_webhook_endpoints(tenant),
        deliveries=await store.list_webhook_deliveries(tenant, limit=DELIVERIES),
    )


def confirmed_tenant(form: FormData) -> str:
    """The tenant a delete form names, once its box is ticked."""
    confirmed(form)
    return field(form, "tenant") or OPEN_TENANT


def _back(tenant: str) -> Response:
    return RedirectResponse(f"/console/resources?{urlencode({'tenant': tenant})}", 303)


@router.post("/vector_stores/{vector_store_id}/delete")
async def delete_vector_store(
    operator: OperatorDep, form: FormDep, vector_store_id: str
) -> Response:
    tenant = confirmed_tenant(form)
    await operator.services.vector_stores.delete(tenant, vector_store_id)
    await operator.record(tenant, "vector_store.deleted", vector_store_id)
    return _back(tenant)


@router.post("/webhook_endpoints/{endpoint_id}/delete")
async def delete_webhook_endpoint(
    operator: OperatorDep, form: FormDep, endpoint_id: str
) -> Response:
    tenant = confirmed_tenant(form)
    await operator.services.webhooks.delete(tenant, endpoint_id)
    await operator.record(tenant, "webhook_endpoint.deleted", endpoint_id)
    return _back(tenant)
