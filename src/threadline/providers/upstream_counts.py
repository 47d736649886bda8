"""An upstream's own count of a request's input tokens (`POST …/responses/input_tokens` on the
Responses API, `POST …/messages/count_tokens` on Anthropic's), shared by those adapters; an
upstream without the endpoint (most servers that mimic these APIs) leaves it to the estimate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from yarl import URL

from threadline.errors import ThreadlineError, UpstreamError
from threadline.providers import token_estimate
from threadline.providers.base import ProviderRequest, TokenCount
from threadline.providers.http_upstream import HttpUpstream

_NO_ENDPOINT = frozenset({404, 405, 501})


async def counted_or_estimated(
    http: HttpUpstream, url: URL, body: dict[str, Any], request: ProviderRequest
) -> TokenCount:
    async def read(response: aiohttp.ClientResponse) -> AsyncIterator[int]:
        try:
            answer = orjson.loads(await response.read())
        except orjson.JSONDecodeError:
            raise UpstreamError(f"Provider '{http.name}' sent a malformed count.") from None
        tokens = answer.get("input_tokens") if isinstance(answer, dict) else None
        if not isinstance(tokens, int):
            raise UpstreamError(f"Provider '{http.name}' sent a count without input_tokens.")
        yield tokens

    try:
        async for tokens in http.post(
            url,
            orjson.dumps(body),
            read,
            lambda response, payload: http.status_error(
                response.status, response.reason or "", payload, request.model
            ),
            api_key=request.api_key,
        ):
            return TokenCount(tokens, exact=True)
    except ThreadlineError as exc:
        if exc.status_code not in _NO_ENDPOINT:
            raise
    return token_estimate.estimate(request)
