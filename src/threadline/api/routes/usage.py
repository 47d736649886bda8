"""/v1/organization/usage/completions, /usage/embeddings and /costs: the caller's tenant's usage
ledger, in OpenAI's report shapes (engine/usage/reports.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from threadline.api.deps import ServicesDep, TenantDep
from threadline.api.json import json_response
from threadline.api.routing import JsonRoute
from threadline.protocol.usage import CostReportQuery, UsageReportQuery

router = APIRouter(prefix="/v1/organization", tags=["usage"], route_class=JsonRoute)


@router.get("/usage/completions")
async def completions_usage(
    query: Annotated[UsageReportQuery, Query()], services: ServicesDep, tenant: TenantDep
) -> Response:
    """Tokens and requests of every model call (responses, chat completions, compactions),
    by time bucket, optionally grouped by `model`, `api_key_id`, `user_id` or `project_id`
    (the tenant)."""
    return json_response(await services.usage.completions(tenant, query))


@router.get("/usage/embeddings")
async def embeddings_usage(
    query: Annotated[UsageReportQuery, Query()], services: ServicesDep, tenant: TenantDep
) -> Response:
    """Tokens and requests of `/v1/embeddings` calls, bucketed and grouped as above."""
    return json_response(await services.usage.embeddings(tenant, query))


@router.get("/costs")
async def costs(
    query: Annotated[CostReportQuery, Query()], services: ServicesDep, tenant: TenantDep
) -> Response:
    """Spend in US dollars by day, by the operator's price table, optionally grouped by
    `line_item` (the model) or `project_id` (the tenant)."""
    return json_response(await services.usage.costs(tenant, query))
