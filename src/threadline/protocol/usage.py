"""The usage report queries: OpenAI's `/v1/organization/usage/completions` and
`/v1/organization/costs`, answered for the caller's tenant (its project)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from threadline.protocol.content import WireModel

BucketWidth = Literal["1m", "1h", "1d"]
LAST_SECOND = 253_402_300_799
"""9999-12-31T23:59:59Z: a later time is refused (400) rather than overflow a database integer."""


class UsageReportQuery(WireModel):
    start_time: int = Field(ge=0, le=LAST_SECOND)
    end_time: int | None = Field(default=None, ge=0, le=LAST_SECOND)
    bucket_width: BucketWidth = "1d"
    group_by: list[str] | None = None
    limit: int | None = Field(default=None, ge=1)
    page: str | None = None
    models: list[str] | None = None
    api_key_ids: list[str] | None = None
    user_ids: list[str] | None = None
    project_ids: list[str] | None = None
    batch: bool | None = None


class CostReportQuery(WireModel):
    start_time: int = Field(ge=0, le=LAST_SECOND)
    end_time: int | None = Field(default=None, ge=0, le=LAST_SECOND)
    bucket_width: Literal["1d"] = "1d"
    group_by: list[str] | None = None
    limit: int | None = Field(default=None, ge=1, le=180)
    page: str | None = None
    project_ids: list[str] | None = None
    api_key_ids: list[str] | None = None
