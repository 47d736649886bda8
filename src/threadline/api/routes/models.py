"""/v1/models, and the health endpoints."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from threadline.api.deps import ProviderKeyDep, ServicesDep, TenantDep, TurnTasksDep
from threadline.api.json import json_response
from threadline.api.routing import JsonRoute
from threadline.errors import ModelNotFound
from threadline.wiring import Services

router = APIRouter(tags=["models"], route_class=JsonRoute)


@router.get("/v1/models")
async def list_models(
    services: ServicesDep, tenant: TenantDep, provider_key: ProviderKeyDep
) -> Response:
    names = await services.providers.list_models(provider_key)
    return json_response({"object": "list", "data": [_model(services, n) for n in names]})


def _model(services: Services, name: str) -> dict[str, object]:
    model: dict[str, object] = {
        "id": name,
        "object": "model",
        "created": 0,
        "owned_by": "threadline",
    }
    try:
        limits = services.providers.limits(name)
    except ModelNotFound:  # an alias whose deployment names no provider: it fails when used
        limits = None
    if limits is not None:
        # Threadline's addition: what `truncation: auto` fits the context into.
        model["context_window"] = limits.context_window
        model["max_output_tokens"] = limits.max_output_tokens
    return model


@router.get("/healthz", include_in_schema=False)
async def healthz(tasks: TurnTasksDep, services: ServicesDep) -> Response:
    return json_response(
        {
            "status": "ok",
            "turns_in_flight": len(tasks),
            "background_running": len(services.background),
        }
    )


@router.get("/readyz", include_in_schema=False)
async def readyz(services: ServicesDep) -> Response:
    try:
        await services.store.ping()
    except Exception as exc:
        return json_response({"status": "unavailable", "reason": type(exc).__name__}, 503)
    return json_response({"status": "ok"})
