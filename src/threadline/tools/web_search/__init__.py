"""Web search backends, one module each, chosen by configuration (`build_web_search`)."""

from __future__ import annotations

from threadline.tools.base import WebSearchBackend
from threadline.tools.web_search.brave import BraveSearch
from threadline.tools.web_search.searxng import SearxngSearch
from threadline.tools.web_search.tavily import TavilySearch

BACKENDS = ("searxng", "tavily", "brave")

CONFIGURE_HINT = (
    "Configure a web search backend: THREADLINE_WEB_SEARCH_BACKEND=searxng with "
    "THREADLINE_WEB_SEARCH_URL=<your SearXNG instance, JSON format enabled>, or "
    "THREADLINE_WEB_SEARCH_BACKEND=tavily or brave with THREADLINE_WEB_SEARCH_API_KEY=<key>."
)


def build_web_search(
    backend: str | None, *, url: str | None, api_key: str | None, timeout: float
) -> WebSearchBackend | None:
    """The configured backend, or None when none is configured. Raises ValueError when the
    configuration is incomplete (it is checked at start-up)."""
    if backend is None:
        return None
    if backend == "searxng":
        if not url:
            raise ValueError("web_search_backend 'searxng' needs web_search_url")
        return SearxngSearch(url, timeout=timeout)
    if backend not in ("tavily", "brave"):
        raise ValueError(f"unknown web_search_backend {backend!r}; choose one of {BACKENDS}")
    if not api_key:
        raise ValueError(f"web_search_backend {backend!r} needs web_search_api_key")
    if backend == "tavily":
        return TavilySearch(api_key, base_url=url, timeout=timeout)
    return BraveSearch(api_key, base_url=url, timeout=timeout)
