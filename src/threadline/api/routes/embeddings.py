"""/v1/embeddings"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from threadline.api.admission import admit, with_headers
from threadline.api.deps import CallerDep, ProviderKeyDep, ServicesDep
from threadline.api.json import json_response
from threadline.api.routing import JsonRoute, post_directly
from threadline.protocol.embeddings import EmbeddingCreateParams

router = APIRouter(prefix="/v1/embeddings", tags=["embeddings"], route_class=JsonRoute)


@post_directly(router, "")
async def create_embeddings(
    params: EmbeddingCreateParams,
    services: ServicesDep,
    caller: CallerDep,
    provider_key: ProviderKeyDep,
) -> Response:
    """Embeddings store nothing of the caller's but a row of its usage ledger."""
    limits = await admit(services, caller, params.model)
    created = await services.embeddings.create(
        params, tenant=caller.tenant, provider_key=provider_key, payer=caller.payer
    )
    return with_headers(json_response(created), limits)
