"""Listing MemoryStore's responses (storage/response_listing.py): every record scanned."""

from __future__ import annotations

import copy
from typing import Any

from threadline.storage.response_listing import ResponseFilter, ResponseListing, ResponsePage


class MemoryResponseListing(ResponseListing):
    _responses: dict[str, Any]
    """MemoryStore's responses by id (each with its `record`)."""

    async def list_responses(
        self, tenant: str, flt: ResponseFilter, *, after: str | None, limit: int
    ) -> ResponsePage:
        records = sorted(
            (r.record for r in self._responses.values() if r.record.tenant == tenant),
            key=lambda record: (record.created_at, record.id),
            reverse=True,
        )
        if after is not None:
            last = next((i for i, record in enumerate(records) if record.id == after), None)
            records = [] if last is None else records[last + 1 :]
        chosen = [record for record in records if flt.admits(record)][: limit + 1]
        copies = [copy.deepcopy(record) for record in chosen[:limit]]  # callers may change them
        return ResponsePage(copies, len(chosen) > limit)
