"""Full-text search over a tenant's stored items and conversations' metadata
(`GET /v1/threadline/search`, `threadline search`): each hit named by its item, response and
conversation (`matched: content`), or by the conversation whose metadata holds the words
(`matched: metadata`, first), with a snippet of the text around the first word found. The item
itself is read through the usual endpoints, so what a reader is shown of it (sealed reasoning,
file search results) stays decided there."""

from __future__ import annotations

import re
from typing import Any

from threadline.errors import InvalidRequest
from threadline.storage.base import ConversationRecord, Store
from threadline.storage.item_search import ItemHit, item_text
from threadline.storage.vector_ranking import words

SNIPPET_CHARS = 160
MAX_QUERY_CHARS = 1000


def snippet(text: str, terms: list[str]) -> str:
    """About `SNIPPET_CHARS` of `text` around the first of `terms` in it."""
    flat = " ".join(text.split())
    found = [m.start() for t in terms if (m := re.search(re.escape(t), flat, re.IGNORECASE))]
    start = max(0, min(found, default=0) - SNIPPET_CHARS // 3)
    cut = flat[start : start + SNIPPET_CHARS]
    return ("…" if start else "") + cut + ("…" if start + SNIPPET_CHARS < len(flat) else "")


class ItemFinder:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def search(self, tenant: str, query: str, *, limit: int) -> dict[str, Any]:
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidRequest(
                f"The query is {len(query)} characters; at most {MAX_QUERY_CHARS} are searched.",
                param="q",
            )
        if not words(query):
            raise InvalidRequest("The query holds no word to search for.", param="q")
        terms = words(query)
        labelled = await self._store.search_conversations(tenant, query, limit=limit + 1)
        hits = await self._store.search_items(tenant, query, limit=limit + 1)
        data = [_metadata_hit(c, terms) for c in labelled] + [_hit(h, terms) for h in hits]
        return {"object": "list", "data": data[:limit], "has_more": len(data) > limit}


def _metadata_hit(conversation: ConversationRecord, terms: list[str]) -> dict[str, Any]:
    pairs = " ".join(f"{key}={value}" for key, value in conversation.metadata.items())
    return {
        "object": "search.hit",
        "matched": "metadata",
        "item_id": None,
        "item_type": None,
        "role": None,
        "conversation_id": conversation.id,
        "response_id": None,
        "snippet": snippet(pairs, terms),
    }


def _hit(hit: ItemHit, terms: list[str]) -> dict[str, Any]:
    item = hit.item
    return {
        "object": "search.hit",
        "matched": "content",
        "item_id": item.get("id"),
        "item_type": item.get("type"),
        "role": item.get("role"),
        "conversation_id": hit.conversation_id,
        "response_id": hit.response_id,
        "snippet": snippet(item_text(item), terms),
    }
