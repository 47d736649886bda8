"""Admission on the routes that spend (a model call): the key's limits checked before the
engine runs, and its rate headers put on whatever answer follows."""

from __future__ import annotations

from starlette.responses import Response

from threadline.engine.api_keys import Caller
from threadline.wiring import Services


async def admit(services: Services, caller: Caller, model: str) -> dict[str, str]:
    """Admit the request or raise the 403/429 that refuses it; the `x-ratelimit-*` headers
    its answer carries (none for a key without rates)."""
    admission = await services.gatekeeper.admit(caller, model)
    return {} if admission is None else admission.headers()


def with_headers(response: Response, headers: dict[str, str]) -> Response:
    if headers:
        response.headers.update(headers)
    return response
