"""Brave Search's web API (hosted; `GET /res/v1/web/search` with a subscription token)."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

from threadline.tools.base import SearchQuery, SearchResult
from threadline.tools.web_search.json_api import JsonApi, results_from, with_site_operator

DEFAULT_URL = "https://api.search.brave.com"
_TAG = re.compile(r"<[^>]+>")


class BraveSearch:
    name = "brave"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = (base_url or DEFAULT_URL).rstrip("/") + "/res/v1/web/search"
        self._api = JsonApi(
            "Brave Search",
            timeout=timeout,
            headers={"X-Subscription-Token": api_key, "Accept": "application/json"},
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._api.aclose()

    async def search(self, query: SearchQuery) -> list[SearchResult]:
        params: dict[str, Any] = {
            "q": with_site_operator(query.query, query.allowed_domains),
            "count": min(query.max_results, 20),
        }
        if query.country:
            params["country"] = query.country.lower()
        data = await self._api.call("GET", self._url, params=params)
        web = data.get("web") if isinstance(data, dict) else None
        rows = web.get("results") if isinstance(web, dict) else None
        results = results_from(
            rows,
            url="url",
            title="title",
            snippet="description",
            domains=query.allowed_domains,
            limit=query.max_results,
        )
        # Brave marks the matched words up in HTML.
        return [SearchResult(r.url, _plain(r.title), _plain(r.snippet)) for r in results]


def _plain(text: str) -> str:
    return html.unescape(_TAG.sub("", text))
