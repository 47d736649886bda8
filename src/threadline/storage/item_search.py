"""The full-text search contract: a tenant's stored items (messages, tool calls and their
outputs, reasoning summaries) found by the words they contain.

- An item matches when it contains every word of the query (words as `vector_ranking.words`
  cuts them: letters and digits, case-insensitive; SQL backends also match other forms of an
  English word: `deploy` finds `deployed`).
- Only an item's text is searched: string values, but not ids, types, roles, statuses,
  sealed content or inline file data (`SKIPPED_KEYS`).
- Hits come best first (each backend's relevance), then newest first; another tenant's items
  are never found.
- Conversations are found by their metadata too (`search_conversations`): those whose metadata
  values hold every word of the query, most recently active first.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from threadline.storage.vector_ranking import words

if TYPE_CHECKING:
    from threadline.storage.base import ConversationRecord

Item = dict[str, Any]  # as storage/base.py's (which is built on this module)

SKIPPED_KEYS = (
    "id",
    "type",
    "role",
    "status",
    "call_id",
    "encrypted_content",
    "file_data",
    "image_url",
    "file_id",
    "detail",
)
"""Keys whose string values are not text a person wrote or read."""


def item_text(item: Any) -> str:
    """The searchable text of an item: its string values outside `SKIPPED_KEYS`, in order."""
    return " ".join(_strings(item))


def _strings(value: Any, key: str | None = None) -> Iterator[str]:
    if isinstance(value, str):
        if key not in SKIPPED_KEYS:
            yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def metadata_holds(metadata: dict[str, str], terms: set[str]) -> bool:
    """Whether the metadata's values hold every one of `terms` (as `words` cuts them)."""
    return terms <= set(words(" ".join(metadata.values())))


@dataclass(frozen=True, slots=True)
class ItemHit:
    item: Item
    conversation_id: str | None
    response_id: str | None


class ItemSearch(abc.ABC):
    """The part of `Store` that searches items by their words (see the module docstring)."""

    @abc.abstractmethod
    async def search_items(self, tenant: str, query: str, *, limit: int) -> list[ItemHit]:
        """At most `limit` hits; none for a query without words. Every item stored before
        the call is searched."""

    @abc.abstractmethod
    async def search_conversations(
        self, tenant: str, query: str, *, limit: int
    ) -> list[ConversationRecord]:
        """At most `limit` of the tenant's conversations whose metadata values hold every word
        of the query, most recently active first; none for a query without words."""

    async def refresh_search_index(self) -> int:
        """Take the items stored since the last refresh into the search index, for a backend
        that indexes in batches rather than as items are written (SQLite); how many. The
        retention sweep calls it, so a search rarely has much to take in first."""
        return 0
