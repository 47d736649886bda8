"""SearXNG's JSON API (`/search?format=json`; the instance must enable the json format)."""

from __future__ import annotations

import httpx

from threadline.tools.base import SearchQuery, SearchResult
from threadline.tools.web_search.json_api import JsonApi, results_from, with_site_operator


class SearxngSearch:
    name = "searxng"

    def __init__(
        self, base_url: str, *, timeout: float, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._url = base_url.rstrip("/") + "/search"
        self._api = JsonApi("SearXNG", timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._api.aclose()

    async def search(self, query: SearchQuery) -> list[SearchResult]:
        params = {
            "q": with_site_operator(query.query, query.allowed_domains),
            "format": "json",
        }
        data = await self._api.call("GET", self._url, params=params)
        rows = data.get("results") if isinstance(data, dict) else None
        return results_from(
            rows,
            url="url",
            title="title",
            snippet="content",
            domains=query.allowed_domains,
            limit=query.max_results,
        )
