"""The stored chat completions of the MongoDB store: `chat_completions`, one document each
(`_id` is the completion id), its metadata as key/value pairs as a conversation's are."""

from __future__ import annotations

from typing import Any

from threadline.errors import Conflict, InvalidRequest
from threadline.storage.base import (
    EVERY_TENANT,
    CompletionFilter,
    CompletionPage,
    Order,
    StoredCompletion,
    TenantScope,
)
from threadline.storage.encryption import ContentCodec
from threadline.storage.mongo.changes import ChangeMethods, Entry, entry
from threadline.storage.mongo.connection import Session
from threadline.storage.mongo.documents import Document, metadata_pairs, tenants_in
from threadline.storage.mongo.schema import CHAT_COMPLETIONS

_SWEEP_BATCH = 500


def _document(completion: StoredCompletion, codec: ContentCodec) -> Document:
    # Plain, the content is kept as BSON (as before encryption existed); sealed, as text.
    content = codec.dump if codec.sealing else _as_is
    return {
        "_id": completion.id,
        "tenant": completion.tenant,
        "created_at": completion.created_at,
        "model": completion.model,
        "metadata": metadata_pairs(completion.metadata),
        "completion": content(completion.completion),
        "messages": content(completion.messages),
    }


def _as_is(value: Any) -> Any:
    return value


def _opened(value: Any, codec: ContentCodec) -> Any:
    return codec.load(value) if isinstance(value, str) else value


def _record(document: Document, codec: ContentCodec) -> StoredCompletion:
    return StoredCompletion(
        id=document["_id"],
        tenant=document["tenant"],
        created_at=document["created_at"],
        model=document["model"],
        metadata={pair["k"]: pair["v"] for pair in document["metadata"]},
        completion=_opened(document["completion"], codec),
        messages=_opened(document["messages"], codec),
    )


def _entry(completion_id: str, tenant: str, *, deleted: bool = False) -> Entry:
    return entry("chat.completion", completion_id, tenant, deleted=deleted)


class CompletionMethods(ChangeMethods):
    async def save_completion(self, completion: StoredCompletion) -> None:
        if await self._db[CHAT_COMPLETIONS].find_one({"_id": completion.id}) is not None:
            raise Conflict(f"A chat completion with id '{completion.id}' already exists")
        document = _document(completion, self._codec)

        async def work(session: Session) -> None:
            await self._db[CHAT_COMPLETIONS].insert_one(document, session=session)
            await self.enter_changes(session, [_entry(completion.id, completion.tenant)])

        await self.transaction(work)

    async def get_completion(self, tenant: str, completion_id: str) -> StoredCompletion | None:
        found = await self._db[CHAT_COMPLETIONS].find_one({"_id": completion_id, "tenant": tenant})
        return None if found is None else _record(found, self._codec)

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
            completions=[_record(d, self._codec) for d in found[:limit]],
            has_more=len(found) > limit,
        )

    async def update_completion_metadata(
        self, tenant: str, completion_id: str, metadata: dict[str, str]
    ) -> StoredCompletion | None:
        async def work(session: Session) -> bool:
            changed = await self._db[CHAT_COMPLETIONS].update_one(
                {"_id": completion_id, "tenant": tenant},
                {"$set": {"metadata": metadata_pairs(metadata)}},
                session=session,
            )
            if changed.matched_count:
                await self.enter_changes(session, [_entry(completion_id, tenant)])
            return bool(changed.matched_count)

        if not await self.transaction(work):
            return None
        return await self.get_completion(tenant, completion_id)

    async def delete_completion(self, tenant: str, completion_id: str) -> bool:
        async def work(session: Session) -> bool:
            gone = await self._db[CHAT_COMPLETIONS].delete_one(
                {"_id": completion_id, "tenant": tenant}, session=session
            )
            if gone.deleted_count:
                await self.enter_changes(session, [_entry(completion_id, tenant, deleted=True)])
            return bool(gone.deleted_count)

        return await self.transaction(work)

    async def delete_completions_created_before(
        self, cutoff: float, scope: TenantScope = EVERY_TENANT
    ) -> int:
        old = {"created_at": {"$lt": cutoff}, **tenants_in(scope)}
        collection = self._db[CHAT_COMPLETIONS]

        async def sweep_batch(session: Session) -> tuple[int, int]:
            cursor = collection.find(old, projection={"_id": 1, "tenant": 1}, session=session)
            found = await cursor.limit(_SWEEP_BATCH).to_list()
            if not found:
                return 0, 0
            ids = [d["_id"] for d in found]
            gone = await collection.delete_many({"_id": {"$in": ids}}, session=session)
            tombstones = [_entry(d["_id"], d["tenant"], deleted=True) for d in found]
            await self.enter_changes(session, tombstones)
            return len(found), gone.deleted_count

        total = 0
        while True:
            selected, deleted = await self.transaction(sweep_batch)
            if selected == 0:
                return total
            total += deleted
