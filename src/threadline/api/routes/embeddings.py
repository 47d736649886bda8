"""/v1/embeddings"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from threadline.api.deps import ProviderKeyDep, ServicesDep, TenantDep
from threadline.api.json import json_response
from threadline.api.routing import JsonRoute, post_directly
from threadline.protocol.embeddings import EmbeddingCreateParams

router = APIRouter(prefix="/v1/embeddings", tags=["embeddings"], route_class=JsonRoute)


@post_directly(router, "")
async def create_embeddings(
    params: EmbeddingCreateParams,
    services: ServicesDep,
    _caller: TenantDep,
    provider_key: ProviderKeyDep,
) -> Response:
    """The caller is authenticated (`_caller`); embeddings store nothing of theirs."""
    return json_response(await services.embeddings.create(params, provider_key=provider_key))
