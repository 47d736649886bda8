"""The stored chat completions of the MongoDB store: `chat_completions`, one document each
(`_id` is the completion id), its metadata as key/value pairs as a conversation's are."""

from __future__ import annotations

from threadline.errors import Conflict, InvalidRequest
from threadline.storage.base import CompletionFilter, CompletionPage, Order, StoredCompletion
from threadline.storage.mongo.connection import MongoConnection
from threadline.storage.mongo.documents import Document, metadata_pairs
from threadline.storage.mongo.schema import CHAT_COMPLETIONS

_SWEEP_BATCH = 500


def _document(completion: StoredCompletion) -> Document:
    return {
        "_id": completion.id,
        "tenant": completion.tenant,
        "created_at": completion.created_at,
        "model": completion.model,
        "metadata": metadata_pairs(completion.metadata),
        "completion": completion.completion,
        "messages": completion.messages,
    }


def _record(document: Document) -> StoredCompletion:
    return StoredCompletion(
        id=document["_id"],
        tenant=document["tenant"],
        created_at=document["created_at"],
        model=document["model"],
        metadata={pair["k"]: pair["v"] for pair in document["metadata"]},
        completion=document["completion"],
        messages=document["messages"],
    )


class CompletionMethods(MongoConnection):
    async def save_completion(self, completion: StoredCompletion) -> None:
        if await self._db[CHAT_COMPLETIONS].find_one({"_id": completion.id}) is not None:
            raise Conflict(f"A chat completion with id '{completion.id}' already exists")
        await self._db[CHAT_COMPLETIONS].insert_one(_document(completion))

    async def get_completion(self, tenant: str, completion_id: str) -> StoredCompletion | None:
        found = await self._db[CHAT_COMPLETIONS].find_one({"_id": completion_id, "tenant": tenant})
        return None if found is None else _record(found)

    async def list_completions(
        self, tenant: str, flt: CompletionFilter, *, after: str | None, limit: int, order: Order
    ) -> CompletionPage:
        collection = self._db[CHAT_COMPLETIONS]
        query: Document = {"tenant": tenant}
        if flt.model is not None:
            query["model"] = flt.model
        if flt.metadata:
            query["$and"] = [
                {"metadata": {"$elemMatch": {"k": key, "v": value}}}
                for key, value in flt.metadata.items()
            ]
        past = "$lt" if order == "desc" else "$gt"
        if after is not None:
            anchor = await collection.find_one(
                {"_id": after, "tenant": tenant}, projection={"created_at": 1}
            )
            if anchor is None:
                raise InvalidRequest(
                    f"No chat completion with id '{after}' in this list", param="after"
                )
            at = anchor["created_at"]
            query["$or"] = [
                {"created_at": {past: at}},
                {"created_at": at, "_id": {past: after}},
            ]
        direction = -1 if order == "desc" else 1
        cursor = collection.find(query, sort=[("created_at", direction), ("_id", direction)])
        found = await cursor.limit(limit + 1).to_list()
        return CompletionPage(
            completions=[_record(d) for d in found[:limit]], has_more=len(found) > limit
        )

    async def update_completion_metadata(
        self, tenant: str, completion_id: str, metadata: dict[str, str]
    ) -> StoredCompletion | None:
        changed = await self._db[CHAT_COMPLETIONS].update_one(
            {"_id": completion_id, "tenant": tenant},
            {"$set": {"metadata": metadata_pairs(metadata)}},
        )
        if not changed.matched_count:
            return None
        return await self.get_completion(tenant, completion_id)

    async def delete_completion(self, tenant: str, completion_id: str) -> bool:
        gone = await self._db[CHAT_COMPLETIONS].delete_one({"_id": completion_id, "tenant": tenant})
        return bool(gone.deleted_count)

    async def delete_completions_created_before(self, cutoff: float) -> int:
        collection, total = self._db[CHAT_COMPLETIONS], 0
        while True:
            cursor = collection.find({"created_at": {"$lt": cutoff}}, projection={"_id": 1})
            ids = [found["_id"] for found in await cursor.limit(_SWEEP_BATCH).to_list()]
            if not ids:
                return total
            gone = await collection.delete_many({"_id": {"$in": ids}})
            total += gone.deleted_count
