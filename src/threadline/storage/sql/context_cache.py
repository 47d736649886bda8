"""Contexts this process loaded or saved lately, so a long history is not read and parsed
again on every turn.

Continuing a chain or a conversation needs its whole history; read from the database, that is
one row and one JSON parse per item, about 4 µs an item on SQLite: 1.6 ms at 400 items, paid on
every turn. A context is kept here under the response (`chain`) or conversation it belongs to,
and extended in place of a reload when this process saves the next turn of it.

A stored context changes only by deletion (a response, a conversation, a conversation item, a
retention sweep) or, for a conversation, by appending to it. Every such deletion increments
`store_state.history_generation` in its own transaction, on whichever process or replica ran
it; every entry remembers the generation it was read at (and a conversation's entry its
`next_position`), and is used only if one cheap read finds both unchanged. A copy is therefore
never trusted past a change that any process committed.

Items handed out are shared by every caller of the same context: they are read, never
modified. Entries are evicted oldest-used first once the JSON size of what they hold passes
`max_bytes` (items shared by several entries count once per entry, so the bound is
conservative).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from threadline.storage.base import Item

DEFAULT_MAX_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CachedContext:
    items: tuple[Item, ...]
    generation: int
    next_position: int | None
    """For a conversation: the position its next item takes; None for a chain."""
    size: int
    """JSON bytes of the items, what eviction counts."""


Key = tuple[str, str, str]


class ContextCache:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._max_bytes = max_bytes
        self._entries: OrderedDict[Key, CachedContext] = OrderedDict()
        self._size = 0

    @property
    def enabled(self) -> bool:
        return self._max_bytes > 0

    def get(self, key: Key) -> CachedContext | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: Key, entry: CachedContext) -> None:
        self.drop(key)
        if entry.size > self._max_bytes:
            return
        self._entries[key] = entry
        self._size += entry.size
        while self._size > self._max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._size -= evicted.size

    def drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._size -= entry.size


def chain_key(tenant: str, response_id: str) -> Key:
    return ("chain", tenant, response_id)


def conversation_key(tenant: str, conversation_id: str) -> Key:
    return ("conversation", tenant, conversation_id)
