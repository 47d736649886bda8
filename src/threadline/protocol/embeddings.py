"""`POST /v1/embeddings` request body."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from threadline.protocol.content import WireModel


class EmbeddingCreateParams(WireModel):
    model: str = Field(min_length=1)
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None
