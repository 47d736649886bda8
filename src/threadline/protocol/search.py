"""The item search query: `GET /v1/threadline/search`."""

from __future__ import annotations

from pydantic import Field

from threadline.protocol.content import WireModel


class SearchQuery(WireModel):
    q: str
    limit: int = Field(default=20, ge=1, le=100)
