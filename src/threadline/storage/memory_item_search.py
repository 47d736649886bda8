"""Full-text search over the items of MemoryStore (storage/item_search.py): every row scanned,
ranked by how often the query's words occur."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from threadline.storage.base import ConversationRecord
from threadline.storage.item_search import ItemHit, ItemSearch, item_text, metadata_holds
from threadline.storage.memory_rows import Row
from threadline.storage.vector_ranking import words


class MemoryItemSearch(ItemSearch):
    _rows: dict[int, Row]
    _conversations: dict[str, Any]
    """MemoryStore's conversations by id (each with its `record`)."""

    async def search_conversations(
        self, tenant: str, query: str, *, limit: int
    ) -> list[ConversationRecord]:
        terms = set(words(query))
        if not terms:
            return []
        found = [
            c.record
            for c in self._conversations.values()
            if c.record.tenant == tenant and metadata_holds(c.record.metadata, terms)
        ]
        found.sort(key=lambda r: (r.last_active_at, r.id), reverse=True)
        return [dataclasses.replace(r, metadata=dict(r.metadata)) for r in found[:limit]]

    async def search_items(self, tenant: str, query: str, *, limit: int) -> list[ItemHit]:
        terms = set(words(query))
        if not terms:
            return []
        scored = []
        for row in self._rows.values():
            if row.tenant != tenant:
                continue
            item = row.item()
            found = Counter(words(item_text(item)))
            if all(term in found for term in terms):
                scored.append((sum(found[t] for t in terms), row.seq, row, item))
        scored.sort(key=lambda hit: (-hit[0], -hit[1]))
        return [
            ItemHit(item, row.conversation_id, row.response_id)
            for _, _, row, item in scored[:limit]
        ]
