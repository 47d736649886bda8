"""Listing responses in the MongoDB store (storage/response_listing.py), newest first."""

from __future__ import annotations

from threadline.storage.mongo.connection import MongoConnection
from threadline.storage.mongo.documents import Document, response_record
from threadline.storage.response_listing import ResponseFilter, ResponseListing, ResponsePage


class ResponseListingMethods(MongoConnection, ResponseListing):
    async def list_responses(
        self, tenant: str, flt: ResponseFilter, *, after: str | None, limit: int
    ) -> ResponsePage:
        query: Document = {"tenant": tenant}
        if flt.status is not None:
            query["status"] = flt.status
        if flt.model is not None:
            query["model"] = flt.model
        if after is not None:
            last = await self._responses.find_one({"_id": after, "tenant": tenant})
            if last is None:
                return ResponsePage([], False)
            query["$or"] = [
                {"created_at": {"$lt": last["created_at"]}},
                {"created_at": last["created_at"], "_id": {"$lt": after}},
            ]
        order = [("created_at", -1), ("_id", -1)]
        found = await self._responses.find(query, sort=order).limit(limit + 1).to_list()
        records = [response_record(document, self._codec) for document in found[:limit]]
        return ResponsePage(records, len(found) > limit)
