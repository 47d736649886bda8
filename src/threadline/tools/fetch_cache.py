"""Files fetched by URL, kept so that a `file_url` named again on a later turn is not
downloaded again while it is unchanged.

An entry belongs to one tenant (a tenant never gets what another one fetched) and is only
reused after the server confirmed it unchanged: the next fetch sends its validators (ETag as
`If-None-Match`, Last-Modified as `If-Modified-Since`) and a `304 Not Modified` answer reuses
the kept bytes. A response with no validator, or marked `no-store`, is not kept. The cache
is bounded by the bytes it holds, least recently used out first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from threadline.tools.base import FetchedFile


@dataclass(frozen=True, slots=True)
class CachedFile:
    file: FetchedFile
    etag: str | None
    last_modified: str | None

    def validators(self) -> dict[str, str]:
        """The headers that ask the server for the file only if it changed."""
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


class FetchCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], CachedFile] = OrderedDict()
        self._size = 0

    def get(self, tenant: str, url: str) -> CachedFile | None:
        entry = self._entries.get((tenant, url))
        if entry is not None:
            self._entries.move_to_end((tenant, url))
        return entry

    def put(self, tenant: str, url: str, entry: CachedFile) -> None:
        self.drop(tenant, url)
        size = len(entry.file.data)
        if size > self.max_bytes or not (entry.etag or entry.last_modified):
            return
        self._entries[(tenant, url)] = entry
        self._size += size
        while self._size > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._size -= len(evicted.file.data)

    def drop(self, tenant: str, url: str) -> None:
        entry = self._entries.pop((tenant, url), None)
        if entry is not None:
            self._size -= len(entry.file.data)
