"""Fetch a document by URL (an `input_file`'s `file_url`) within size and time limits.

Redirects are followed by hand, a few at most, so that every hop passes the outbound guard.
"""

from __future__ import annotations

import mimetypes
import posixpath
from urllib.parse import urljoin, urlsplit

import httpx

from threadline.tools.base import FetchedFile, ToolFailure
from threadline.tools.outbound import OutboundPolicy

_MAX_REDIRECTS = 3


class HttpFetcher:
    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        max_bytes: int,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._policy = policy
        self._max_bytes = max_bytes
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), follow_redirects=False, transport=transport
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str) -> FetchedFile:
        for _ in range(_MAX_REDIRECTS + 1):
            await self._policy.check(url)
            try:
                async with self._client.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code >= 400:
                        raise ToolFailure(
                            f"GET {url[:200]} answered HTTP {response.status_code}.",
                            code=response.status_code,
                        )
                    data = await self._read_limited(response, url)
                    media_type = response.headers.get("content-type", "").split(";")[0].strip()
                    return FetchedFile(data, _media_type(media_type, url), _filename(url))
            except httpx.TimeoutException as exc:
                raise ToolFailure(f"GET {url[:200]} timed out.", code=504) from exc
            except httpx.HTTPError as exc:
                raise ToolFailure(f"GET {url[:200]} failed: {type(exc).__name__}") from exc
        raise ToolFailure(f"Too many redirects fetching {url[:200]}.", code=502)

    async def _read_limited(self, response: httpx.Response, url: str) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise _too_large(url, self._max_bytes)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                raise _too_large(url, self._max_bytes)
            chunks.append(chunk)
        return b"".join(chunks)


def _too_large(url: str, limit: int) -> ToolFailure:
    return ToolFailure(
        f"The file at {url[:200]} is larger than the limit of {limit} bytes "
        "(setting THREADLINE_MAX_FILE_BYTES).",
        code=413,
    )


def _filename(url: str) -> str:
    return posixpath.basename(urlsplit(url).path) or "file"


def _media_type(declared: str, url: str) -> str:
    if declared and declared != "application/octet-stream":
        return declared.lower()
    guessed, _ = mimetypes.guess_type(_filename(url))
    return guessed or declared or "application/octet-stream"
