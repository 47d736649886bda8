"""Vector Stores API request bodies and queries, and the filters that `file_search` shares."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr

from threadline.protocol.content import WireModel

Metadata = dict[str, str]  # as the Responses API's (protocol/tools.py imports this module)

Scalar = StrictStr | StrictBool | StrictInt | StrictFloat
Attributes = dict[
    Annotated[str, Field(max_length=64)],
    Annotated[StrictStr, Field(max_length=512)] | StrictBool | StrictInt | StrictFloat,
]
"""A vector store file's attributes (at most 16): what `filters` compare."""


class ComparisonFilter(WireModel):
    type: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]
    key: str
    value: Scalar | list[StrictStr | StrictInt | StrictFloat]


class CompoundFilter(WireModel):
    type: Literal["and", "or"]
    filters: list[ComparisonFilter | CompoundFilter] = Field(min_length=1, max_length=64)


Filter = ComparisonFilter | CompoundFilter


class ExpiresAfter(WireModel):
    anchor: Literal["last_active_at"]
    days: int = Field(ge=1, le=365)


class HybridSearch(WireModel):
    embedding_weight: float = Field(ge=0)
    text_weight: float = Field(ge=0)


class RankingOptions(WireModel):
    ranker: Literal["none", "auto", "default-2024-11-15", "default_2024_08_21"] | None = None
    score_threshold: float | None = Field(default=None, ge=0, le=1)
    hybrid_search: HybridSearch | None = None


class VectorStoreCreateParams(WireModel):
    file_ids: list[str] | None = Field(default=None, max_length=500)
    name: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=512)
    expires_after: ExpiresAfter | None = None
    chunking_strategy: dict[str, Any] | None = None
    metadata: Metadata | None = None


class VectorStoreUpdateParams(WireModel):
    name: str | None = Field(default=None, max_length=256)
    expires_after: ExpiresAfter | None = None
    metadata: Metadata | None = None


class VectorFileCreateParams(WireModel):
    file_id: str
    chunking_strategy: dict[str, Any] | None = None
    attributes: Attributes | None = Field(default=None, max_length=16)


class FileBatchCreateParams(WireModel):
    file_ids: list[str] | None = Field(default=None, min_length=1, max_length=2000)
    files: list[VectorFileCreateParams] | None = Field(default=None, min_length=1, max_length=2000)
    chunking_strategy: dict[str, Any] | None = None
    attributes: Attributes | None = Field(default=None, max_length=16)


class FileAttributesUpdateParams(WireModel):
    attributes: Attributes | None = Field(max_length=16)


class VectorSearchParams(WireModel):
    query: str | list[str] = Field(min_length=1)
    rewrite_query: bool = False
    max_num_results: int = Field(default=10, ge=1, le=50)
    filters: Filter | None = None
    ranking_options: RankingOptions | None = None


class ListQuery(WireModel):
    after: str | None = None
    before: str | None = None
    limit: int = Field(default=20, ge=1, le=100)
    order: Literal["asc", "desc"] = "desc"


class FileListQuery(ListQuery):
    filter: Literal["in_progress", "completed", "failed", "cancelled"] | None = None
