"""Full-text search over items in the MongoDB store (storage/item_search.py).

Items keep their content as JSON text, and a plain replica set's `$text` index would rank the
JSON's keys as words; so the tenant's items that contain every word (a case-insensitive
`$regex` on the JSON, or for sealed content one of the word's blind terms in the item's
`words` (encryption.py); no index) are read and checked and ranked in the process, as the memory
store does: fine for the size a self-hosted deployment searches, slower than the SQL stores'
indexes on a large tenant."""

from __future__ import annotations

import re
from collections import Counter

from threadline.storage.base import ConversationRecord
from threadline.storage.item_search import ItemHit, ItemSearch, item_text, metadata_holds
from threadline.storage.mongo.connection import MongoConnection
from threadline.storage.mongo.documents import Document, conversation_record, loads_item
from threadline.storage.vector_ranking import words

_SCANNED = 10_000
"""At most this many candidate items are read for one search."""


class ItemSearchMethods(MongoConnection, ItemSearch):
    async def search_conversations(
        self, tenant: str, query: str, *, limit: int
    ) -> list[ConversationRecord]:
        terms = set(words(query))
        if not terms:
            return []
        match: Document = {
            "tenant": tenant,
            "$and": [{"metadata.v": {"$regex": re.escape(t), "$options": "i"}} for t in terms],
        }
        order = [("last_active_at", -1), ("_id", -1)]
        found: list[ConversationRecord] = []
        async for document in self._conversations.find(match, sort=order).limit(_SCANNED):
            record = conversation_record(document)
            if metadata_holds(record.metadata, terms):
                found.append(record)
                if len(found) == limit:
                    break
        return found

    async def search_items(self, tenant: str, query: str, *, limit: int) -> list[ItemHit]:
        terms = sorted(set(words(query)))
        if not terms:
            return []
        match: Document = {
            "tenant": tenant,
            "$and": [
                {
                    "$or": [
                        {"data": {"$regex": re.escape(t), "$options": "i"}},
                        {"words": {"$in": self._codec.query_terms(t)}},
                    ]
                }
                for t in terms
            ],
        }
        cursor = self._items.find(
            match, {"data": 1, "conversation_id": 1, "response_id": 1, "created_at": 1}
        ).limit(_SCANNED)
        scored = []
        for document in await cursor.to_list():
            item = loads_item(document["data"], self._codec)
            found = Counter(words(item_text(item)))
            if all(term in found for term in terms):
                hits = sum(found[t] for t in terms)
                scored.append((hits, document.get("created_at", 0.0), document, item))
        scored.sort(key=lambda hit: (-hit[0], -hit[1]))
        return [
            ItemHit(item, doc.get("conversation_id"), doc.get("response_id"))
            for _, _, doc, item in scored[:limit]
        ]
