"""Fetch a document by URL (an `input_file`'s `file_url`) within size and time limits.

Redirects are followed by hand, a few at most, so that every hop passes the outbound guard.
The body is read in pieces and refused as soon as it goes over the limit, so a large file costs
no more memory than the limit. An unchanged file fetched before is revalidated, not downloaded
again (`tools/fetch_cache.py`).
"""

from __future__ import annotations

import mimetypes
import posixpath
from urllib.parse import urljoin, urlsplit

import httpx

from threadline.tools.base import FetchedFile, FileTooLarge, ToolFailure
from threadline.tools.fetch_cache import CachedFile, FetchCache
from threadline.tools.outbound import OutboundPolicy

_MAX_REDIRECTS = 3


class HttpFetcher:
    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        max_bytes: int,
        timeout: float,
        cache: FetchCache | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._policy = policy
        self._max_bytes = max_bytes
        self._cache = cache
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), follow_redirects=False, transport=transport
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str, *, tenant: str, max_bytes: int | None = None) -> FetchedFile:
        limit = self._max_bytes if max_bytes is None else min(max_bytes, self._max_bytes)
        cached = self._cache.get(tenant, url) if self._cache is not None else None
        headers = cached.validators() if cached is not None else {}
        location = url
        for _ in range(_MAX_REDIRECTS + 1):
            await self._policy.check(location)
            try:
                async with self._client.stream("GET", location, headers=headers) as response:
                    if response.is_redirect and "location" in response.headers:
                        location = urljoin(location, response.headers["location"])
                        continue
                    if response.status_code == 304 and cached is not None:
                        if len(cached.file.data) > limit:
                            raise self._too_large(url, limit)
                        return cached.file
                    if response.status_code >= 400:
                        raise ToolFailure(
                            f"GET {location[:200]} answered HTTP {response.status_code}.",
                            code=response.status_code,
                        )
                    data = await self._read_limited(response, url, limit)
                    media_type = response.headers.get("content-type", "").split(";")[0].strip()
                    fetched = FetchedFile(
                        data, _media_type(media_type, location), _filename(location)
                    )
                    self._keep(tenant, url, fetched, response.headers)
                    return fetched
            except httpx.TimeoutException as exc:
                raise ToolFailure(f"GET {location[:200]} timed out.", code=504) from exc
            except httpx.HTTPError as exc:
                raise ToolFailure(f"GET {location[:200]} failed: {type(exc).__name__}") from exc
        raise ToolFailure(f"Too many redirects fetching {url[:200]}.", code=502)

    def _keep(self, tenant: str, url: str, fetched: FetchedFile, headers: httpx.Headers) -> None:
        if self._cache is None:
            return
        if "no-store" in headers.get("cache-control", "").lower():
            self._cache.drop(tenant, url)
            return
        entry = CachedFile(fetched, headers.get("etag"), headers.get("last-modified"))
        self._cache.put(tenant, url, entry)

    async def _read_limited(self, response: httpx.Response, url: str, limit: int) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(url, limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise self._too_large(url, limit)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, url: str, limit: int) -> FileTooLarge:
        if limit < self._max_bytes:
            return FileTooLarge(
                f"The file at {url[:200]} goes over what one request may fetch by file_url "
                f"({limit} bytes were left). Give fewer or smaller files, or upload them "
                "(POST /v1/files) and name them by file_id; an operator can raise the limit "
                "(setting THREADLINE_FILE_URL_MAX_REQUEST_BYTES).",
                limit=limit,
            )
        return FileTooLarge(
            f"The file at {url[:200]} is larger than the limit of {limit} bytes "
            "(setting THREADLINE_MAX_FILE_BYTES).",
            limit=limit,
        )


def _filename(url: str) -> str:
    return posixpath.basename(urlsplit(url).path) or "file"


def _media_type(declared: str, url: str) -> str:
    if declared and declared != "application/octet-stream":
        return declared.lower()
    guessed, _ = mimetypes.guess_type(_filename(url))
    return guessed or declared or "application/octet-stream"
