"""/v1/chat/completions"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter
from starlette.responses import Response, StreamingResponse

from threadline.api.deps import ServicesDep, TenantDep
from threadline.api.json import json_response
from threadline.api.routing import JsonRoute
from threadline.engine.chat_completions import Chunk
from threadline.errors import ThreadlineError
from threadline.protocol.chat import ChatCompletionCreateParams

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/chat/completions", tags=["chat"], route_class=JsonRoute)


@router.post("")
async def create_chat_completion(
    params: ChatCompletionCreateParams, services: ServicesDep, tenant: TenantDep
) -> Response:
    chat = await services.chat.prepare(tenant, params)
    if not params.stream:
        return json_response(await services.chat.complete(chat))
    # Nothing is stored, so a client that leaves stops the upstream call with it.
    return StreamingResponse(
        _frames(services.chat.chunks(chat)),
        media_type="text/event-stream; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


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
