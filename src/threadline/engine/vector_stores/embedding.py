"""Texts → unit-length vectors through the provider that serves the store's embedding model
(`POST /v1/embeddings` upstream, with the provider's retries), in batches."""

from __future__ import annotations

import math

from threadline.providers.base import EmbeddingRequest
from threadline.providers.registry import ProviderRegistry

BATCH_INPUTS = 128
"""Inputs per upstream request: OpenAI takes 2,048, but one failure then costs less."""
BATCH_TOKENS = 200_000
"""Tokens per upstream request (OpenAI's limit is 300,000)."""


class Embedder:
    def __init__(self, providers: ProviderRegistry) -> None:
        self._providers = providers

    async def embed(
        self,
        model: str,
        texts: list[str],
        *,
        tokens: list[int] | None = None,
        api_key: str | None = None,
    ) -> list[list[float]]:
        provider, upstream_model = self._providers.resolve(model)
        sizes = tokens or [len(text) // 3 + 1 for text in texts]
        vectors: list[list[float]] = []
        start = 0
        while start < len(texts):
            end, budget = start, 0
            while end < len(texts) and end - start < BATCH_INPUTS:
                if end > start and budget + sizes[end] > BATCH_TOKENS:
                    break
                budget += sizes[end]
                end += 1
            result = await provider.embed(
                EmbeddingRequest(model=upstream_model, inputs=texts[start:end], api_key=api_key)
            )
            if len(result.vectors) != end - start:
                raise ValueError(
                    f"the embedding upstream returned {len(result.vectors)} vectors for "
                    f"{end - start} inputs"
                )
            vectors += [unit(vector) for vector in result.vectors]
            start = end
        return vectors


def unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else list(vector)
