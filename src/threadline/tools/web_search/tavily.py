"""Tavily's search API (hosted; `POST /search` with a Bearer key)."""

from __future__ import annotations

from typing import Any

import httpx

from threadline.tools.base import SearchQuery, SearchResult
from threadline.tools.web_search.json_api import JsonApi, results_from

DEFAULT_URL = "https://api.tavily.com"


class TavilySearch:
    name = "tavily"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = (base_url or DEFAULT_URL).rstrip("/") + "/search"
        self._api = JsonApi(
            "Tavily",
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}"},
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._api.aclose()

    async def search(self, query: SearchQuery) -> list[SearchResult]:
        body: dict[str, Any] = {
            "query": query.query,
            "max_results": query.max_results,
            "search_depth": "advanced" if query.context_size == "high" else "basic",
        }
        if query.allowed_domains:
            body["include_domains"] = list(query.allowed_domains)
        data = await self._api.call("POST", self._url, json=body)
        rows = data.get("results") if isinstance(data, dict) else None
        return results_from(
            rows,
            url="url",
            title="title",
            snippet="content",
            domains=query.allowed_domains,
            limit=query.max_results,
        )
