"""`POST /v1/embeddings` request body."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from threadline.protocol.content import WireModel

MAX_INPUTS = 2048
"""OpenAI's own limit on the inputs of one request."""
MAX_TOKENS = 1_000_000
"""Tokens of one input given as token ids: far above any model's context, below what would
tie the server up."""
MAX_DIMENSIONS = 16384
"""Above any embedding model's size (the largest are a few thousand): it bounds the reply the
upstream is asked for, and so what we buffer."""


class EmbeddingCreateParams(WireModel):
    model: str = Field(min_length=1)
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, strict=True, ge=1, le=MAX_DIMENSIONS)
    user: str | None = None

    @field_validator("input", mode="before")
    @classmethod
    def _bounded(cls, given: Any) -> Any:
        """Sizes checked before the union is tried, so the refusal names the size, not a
        mismatch of one element against another branch."""
        if not isinstance(given, list):
            return given
        if given and isinstance(given[0], int):
            if len(given) > MAX_TOKENS:
                raise ValueError(f"at most {MAX_TOKENS} tokens per input, got {len(given)}")
            return given
        if len(given) > MAX_INPUTS:
            raise ValueError(f"at most {MAX_INPUTS} inputs per request, got {len(given)}")
        if any(isinstance(tokens, list) and len(tokens) > MAX_TOKENS for tokens in given):
            raise ValueError(f"at most {MAX_TOKENS} tokens per input")
        return given
