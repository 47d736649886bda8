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
modified. Entries are evicted oldest-used first once what they hold passes `max_bytes`.

What they hold is counted once. Every entry of a long chain (one per response: a fork of any
of them is a continuation too) is a tuple of the whole history, but the items in it are the
objects of the entry it extended plus its own turn's, so each turn's items are counted once, by
the `Segment` that brought them in, for as long as any cached entry still holds them (a segment
holds the one it extends); each entry adds its tuple's pointers. Counting every entry's whole
history instead let one 2,000-turn chain fill 32 MiB with a few dozen of its own entries and
evict every other context.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from threadline.storage.base import Item

DEFAULT_MAX_BYTES = 32 * 1024 * 1024


POINTER_BYTES = 8
"""What an entry's tuple costs per item it holds (the items themselves count in segments)."""


@dataclass(eq=False, slots=True)
class Segment:
    """The items one entry added to the history it extends (all of it, for a history read from
    the database): counted while a cached entry holds them."""

    size: int
    """JSON bytes of the items this segment brought in."""
    base: Segment | None = None
    """The segment of the history this one extends."""
    total: int = 0
    """JSON bytes of the whole history up to this segment's end."""
    holders: int = 0
    """Cached entries ending at this segment, and held segments extending it."""

    def __post_init__(self) -> None:
        self.total = self.size + (0 if self.base is None else self.base.total)

    def extended(self, size: int) -> Segment:
        return Segment(size, self)


@dataclass(frozen=True, slots=True)
class CachedContext:
    items: tuple[Item, ...]
    generation: int
    next_position: int | None
    """For a conversation: the position its next item takes; None for a chain."""
    segment: Segment
    """Where its items were brought in, for counting them once (see the module docstring)."""


Key = tuple[str, str, str]


class ContextCache:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._max_bytes = max_bytes
        self._entries: OrderedDict[Key, CachedContext] = OrderedDict()
        self._size = 0

    @property
    def enabled(self) -> bool:
        return self._max_bytes > 0

    @property
    def size(self) -> int:
        """Bytes counted against the bound now."""
        return self._size

    def get(self, key: Key) -> CachedContext | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: Key, entry: CachedContext) -> None:
        if entry.segment.total + POINTER_BYTES * len(entry.items) > self._max_bytes:
            self.drop(key)
            return
        replaced = self._entries.pop(key, None)
        self._entries[key] = entry
        self._size += POINTER_BYTES * len(entry.items)
        # Held before the entry it replaces is let go: a conversation's entry replaced by its
        # extension then moves its segments' counts by one, instead of releasing its whole
        # history and holding it again.
        self._hold(entry.segment)
        if replaced is not None:
            self._forget(replaced)
        while self._size > self._max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._forget(evicted)

    def drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._forget(entry)

    def _forget(self, entry: CachedContext) -> None:
        self._size -= POINTER_BYTES * len(entry.items)
        segment: Segment | None = entry.segment
        while segment is not None:
            segment.holders -= 1
            if segment.holders:
                return
            self._size -= segment.size
            segment = segment.base

    def _hold(self, segment: Segment | None) -> None:
        while segment is not None:
            segment.holders += 1
            if segment.holders > 1:
                return
            self._size += segment.size
            segment = segment.base


def chain_key(tenant: str, response_id: str) -> Key:
    return ("chain", tenant, response_id)


def conversation_key(tenant: str, conversation_id: str) -> Key:
    return ("conversation", tenant, conversation_id)
