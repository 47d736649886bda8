"""Re-sealing stored content in the MongoDB store (storage/resealing.py).

Each collection that holds content is walked in `_id` order, a batch at a time; a document is
updated only where its content is still what was read (single-document updates are atomic, so
no transaction is needed). A re-sealed item gets the blind search terms of the new key.
"""

from __future__ import annotations

from typing import Any

from threadline.storage.mongo.connection import MongoConnection
from threadline.storage.mongo.documents import Document
from threadline.storage.mongo.schema import (
    BACKGROUND_JOBS,
    CHAT_COMPLETIONS,
    ITEMS,
    RESPONSE_EVENTS,
    RESPONSES,
)
from threadline.storage.resealing import RESEAL_BATCH, ContentResealing, Progress

_SEALED = (
    ("items", ITEMS, ("data",)),
    ("responses", RESPONSES, ("settings",)),
    ("chat_completions", CHAT_COMPLETIONS, ("messages", "completion")),
    ("response_events", RESPONSE_EVENTS, ("data",)),
    ("background_jobs", BACKGROUND_JOBS, ("request",)),
)


class ResealingMethods(MongoConnection, ContentResealing):
    async def reseal_content(
        self, *, batch: int = RESEAL_BATCH, progress: Progress | None = None
    ) -> dict[str, int]:
        counts: dict[str, int] = {}
        for kind, name, fields in _SEALED:
            collection = self._db[name]
            done, after = 0, None
            while True:
                query: Document = {} if after is None else {"_id": {"$gt": after}}
                projection = dict.fromkeys(fields, 1)
                cursor = collection.find(query, projection, sort=[("_id", 1)]).limit(batch)
                found = await cursor.to_list()
                for document in found:
                    done += await self._reseal(collection, kind, fields, document)
                if progress is not None:
                    progress(kind, done)
                if len(found) < batch:
                    break
                after = found[-1]["_id"]
            counts[kind] = done
        return counts

    async def _reseal(
        self, collection: Any, kind: str, fields: tuple[str, ...], document: Document
    ) -> int:
        old = {field: document[field] for field in fields if field in document}
        if all(self._current(value) for value in old.values()):
            return 0
        new: Document = {field: self._sealed(value) for field, value in old.items()}
        if kind == "items":
            item = self._codec.load(new["data"])
            new["words"] = self._codec.index_words(item)
        changed = await collection.update_one({"_id": document["_id"], **old}, {"$set": new})
        return 1 if changed.modified_count else 0

    def _current(self, value: Any) -> bool:
        if isinstance(value, str):
            return self._codec.is_current(value)
        return not self._codec.sealing  # a chat completion's content kept as BSON

    def _sealed(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._codec.restored(value)
        return self._codec.dump(value)
