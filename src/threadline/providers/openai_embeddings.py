"""`POST {base_url}/embeddings`, as OpenAI and every OpenAI-compatible server serve it: shared by
the provider kinds whose upstream has it (openai-chat, openai-responses)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from yarl import URL

from threadline.errors import UpstreamError
from threadline.providers.base import EmbeddingRequest, Embeddings
from threadline.providers.http_upstream import HttpUpstream


async def embed(http: HttpUpstream, url: URL, request: EmbeddingRequest) -> Embeddings:
    body: dict[str, Any] = {
        "model": request.model,
        "input": request.inputs,
        "encoding_format": "float",
    }
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    if request.user is not None:
        body["user"] = request.user

    async def read(response: aiohttp.ClientResponse) -> AsyncIterator[Embeddings]:
        answer = await http.json_answer(response, "data")
        yield _embeddings(http.name, answer, len(request.inputs))

    async for result in http.post(
        url,
        orjson.dumps(body),
        read,
        lambda response, payload: http.status_error(
            response.status, response.reason or "", payload, request.model
        ),
        api_key=request.api_key,
    ):
        return result
    raise UpstreamError(f"Provider '{http.name}' sent no embeddings.")


def _embeddings(provider: str, answer: dict[str, Any], count: int) -> Embeddings:
    vectors: list[list[float] | None] = [None] * count
    for position, entry in enumerate(answer["data"]):
        index = entry.get("index", position) if isinstance(entry, dict) else None
        vector = entry.get("embedding") if isinstance(entry, dict) else None
        if not isinstance(index, int) or not 0 <= index < count or not isinstance(vector, list):
            raise UpstreamError(f"Provider '{provider}' sent a malformed embedding.")
        vectors[index] = [float(x) for x in vector]
    if any(vector is None for vector in vectors):
        raise UpstreamError(f"Provider '{provider}' sent fewer embeddings than inputs.")
    usage = answer.get("usage") or {}
    tokens = int(usage.get("prompt_tokens") or usage.get("total_tokens") or 0)
    return Embeddings([v for v in vectors if v is not None], tokens)
