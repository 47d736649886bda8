"""The embeddings use case: `POST /v1/embeddings`, through the provider that serves the model.

Vectors are asked of the upstream as floats; `encoding_format: "base64"` is done here (the
little-endian float32 bytes, base64-encoded, as OpenAI sends them), so every upstream gives
both forms.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from threadline.errors import InvalidRequest
from threadline.protocol.embeddings import EmbeddingCreateParams
from threadline.providers.base import EmbeddingRequest
from threadline.providers.registry import ProviderRegistry

MAX_INPUTS = 2048
"""OpenAI's limit on the inputs of one request."""


class EmbeddingService:
    def __init__(self, providers: ProviderRegistry) -> None:
        self._providers = providers

    async def create(
        self, params: EmbeddingCreateParams, *, provider_key: str | None = None
    ) -> dict[str, Any]:
        inputs = _inputs(params.input)
        provider, upstream_model = self._providers.resolve(params.model)
        result = await provider.embed(
            EmbeddingRequest(
                model=upstream_model,
                inputs=inputs,
                dimensions=params.dimensions,
                user=params.user,
                api_key=provider_key,
            )
        )
        encode = _base64 if params.encoding_format == "base64" else list
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": index, "embedding": encode(vector)}
                for index, vector in enumerate(result.vectors)
            ],
            "model": params.model,
            "usage": {"prompt_tokens": result.input_tokens, "total_tokens": result.input_tokens},
        }


def _inputs(given: str | list[str] | list[int] | list[list[int]]) -> list[str] | list[list[int]]:
    """One list of inputs, each a non-empty text or token list (a 400 naming it otherwise)."""
    if isinstance(given, str):
        inputs: list[Any] = [given]
    elif given and all(isinstance(token, int) for token in given):
        inputs = [given]  # one input, already tokenized
    else:
        inputs = list(given)
    if not inputs:
        raise InvalidRequest("'input' must not be empty.", param="input")
    if len(inputs) > MAX_INPUTS:
        raise InvalidRequest(
            f"'input' holds {len(inputs)} inputs; at most {MAX_INPUTS} are allowed.",
            param="input",
        )
    for index, text in enumerate(inputs):
        if not text:
            raise InvalidRequest(f"input[{index}] is empty.", param=f"input[{index}]")
    return inputs


def _base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
