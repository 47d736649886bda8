"""The embeddings use case: `POST /v1/embeddings`, through the provider that serves the model.

Vectors are asked of the upstream as floats; `encoding_format: "base64"` is done here (the
little-endian float32 bytes, base64-encoded, as OpenAI sends them), so every upstream gives
both forms.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from threadline.engine.clock import Clock, system_clock
from threadline.engine.usage.meter import ANONYMOUS, Charge, Payer, UsageMeter
from threadline.errors import InvalidRequest
from threadline.protocol.embeddings import EmbeddingCreateParams
from threadline.providers.base import EmbeddingRequest, UsageReport
from threadline.providers.registry import ProviderRegistry

MAX_INPUTS = 2048
"""OpenAI's limit on the inputs of one request."""


class EmbeddingService:
    def __init__(
        self,
        providers: ProviderRegistry,
        meter: UsageMeter | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self._providers = providers
        self._meter = meter
        self._clock = clock

    async def create(
        self,
        params: EmbeddingCreateParams,
        *,
        tenant: str,
        provider_key: str | None = None,
        payer: Payer = ANONYMOUS,
    ) -> dict[str, Any]:
        """The embeddings, charged to `payer` in `tenant`'s ledger (nothing else is kept)."""
        inputs = _inputs(params.input)
        provider, upstream_model = self._providers.resolve(params.model)
        started_at = self._clock()
        result = await provider.embed(
            EmbeddingRequest(
                model=upstream_model,
                inputs=inputs,
                dimensions=params.dimensions,
                user=params.user,
                api_key=provider_key,
            )
        )
        if self._meter is not None:
            await self._meter.charge(
                Charge(
                    tenant=tenant,
                    payer=payer,
                    kind="embedding",
                    model=params.model,
                    deployment=upstream_model,
                    usage=UsageReport(result.input_tokens, 0),
                    started_at=started_at,
                    end_user=self._meter.end_user(params.user, None, None),
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
