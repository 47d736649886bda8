"""Texts → unit-length vectors through the provider that serves the store's embedding model
(`POST /v1/embeddings` upstream, with the provider's retries), in batches. What they use is
charged to the tenant in the usage ledger, under no key: ingestion runs after the request that
asked for it, and a search's embedding is the store's, not the caller's model."""

from __future__ import annotations

import math

from threadline.engine.clock import Clock, system_clock
from threadline.engine.usage.meter import ANONYMOUS, Charge, UsageMeter
from threadline.providers.base import EmbeddingRequest, UsageReport
from threadline.providers.registry import ProviderRegistry

BATCH_INPUTS = 128
"""Inputs per upstream request: OpenAI takes 2,048, but one failure then costs less."""
BATCH_TOKENS = 200_000
"""Tokens per upstream request (OpenAI's limit is 300,000)."""


class Embedder:
    def __init__(
        self,
        providers: ProviderRegistry,
        meter: UsageMeter | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self._providers = providers
        self._meter = meter
        self._clock = clock

    async def embed(
        self,
        model: str,
        texts: list[str],
        *,
        tenant: str,
        tokens: list[int] | None = None,
        api_key: str | None = None,
    ) -> list[list[float]]:
        provider, upstream_model = self._providers.resolve(model)
        started_at, used = self._clock(), 0
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
            used += result.input_tokens
            start = end
        if self._meter is not None:
            await self._meter.charge(
                Charge(
                    tenant=tenant,
                    payer=ANONYMOUS,
                    kind="embedding",
                    model=model,
                    deployment=upstream_model,
                    usage=UsageReport(used, 0),
                    started_at=started_at,
                )
            )
        return vectors


def unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else list(vector)
