"""What every search backend shares: a JSON call with limits, and the domain filter."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from threadline.tools.base import SearchResult, ToolFailure

log = logging.getLogger("threadline")

_MAX_RESPONSE_BYTES = 4 * 1024 * 1024


class JsonApi:
    def __init__(
        self,
        name: str,
        *,
        timeout: float,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), headers=headers, transport=transport
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def call(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            async with self._client.stream(method, url, **kwargs) as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_RESPONSE_BYTES:
                        raise ToolFailure(f"{self.name} sent a response over the size limit.")
                if response.status_code >= 400:
                    raise ToolFailure(
                        f"{self.name} answered HTTP {response.status_code}.",
                        code=response.status_code,
                    )
        except httpx.TimeoutException as exc:
            raise ToolFailure(f"{self.name} did not answer in time.", code=504) from exc
        except httpx.HTTPError as exc:
            # The operator's backend URL and the address it failed at belong in the log.
            log.warning("%s at %s failed: %s: %s", self.name, url, type(exc).__name__, exc)
            raise ToolFailure(f"{self.name} could not be reached ({type(exc).__name__}).") from exc
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ToolFailure(f"{self.name} did not answer with JSON.") from exc


def domain_allowed(url: str, domains: Sequence[str]) -> bool:
    if not domains:
        return True
    host = (urlsplit(url).hostname or "").lower()
    return any(host == d or host.endswith(f".{d}") for d in _normal(domains))


def with_site_operator(query: str, domains: Sequence[str]) -> str:
    """Engines understand `site:` for one domain; more are filtered after the search."""
    normal = _normal(domains)
    return f"{query} site:{normal[0]}" if len(normal) == 1 else query


def results_from(
    rows: Any, *, url: str, title: str, snippet: str, domains: Sequence[str], limit: int
) -> list[SearchResult]:
    """SearchResults from a backend's list of result objects (keys named by the backend)."""
    results: list[SearchResult] = []
    for row in rows if isinstance(rows, list) else ():
        if not isinstance(row, dict) or not isinstance(row.get(url), str):
            continue
        if not domain_allowed(row[url], domains):
            continue
        results.append(
            SearchResult(
                url=row[url],
                title=str(row.get(title) or row[url]),
                snippet=str(row.get(snippet) or ""),
            )
        )
        if len(results) >= limit:
            break
    return results


def _normal(domains: Sequence[str]) -> list[str]:
    cleaned = []
    for domain in domains:
        host = urlsplit(domain).hostname if "://" in domain else domain
        cleaned.append((host or domain).strip().strip(".").lower().removeprefix("www."))
    return [d for d in cleaned if d]
