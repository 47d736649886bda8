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

What they hold is counted once, and entries share it. Every entry of a long chain (one per
response: a fork of any of them is a continuation too) is the whole history, but the items in
it are the objects of the entry it extended plus its own turn's, and the list of them is a
`History` shared by the entries that see a first part of it: a turn that continues a
history's end appends to it (a fork of an earlier turn copies the part it keeps into a list of
its own). What a held history keeps alive is counted: its list's pointers, and its items, each
turn's once, by the `Segment` that brought them in (a segment holds the one it extends). A
2,000-turn chain is then one list of 4,000 pointers, not 2,000 tuples of up to 4,000: 32 MB of
pointers, the whole default bound, which one long conversation used to fill, evicting every
other context.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from threadline.storage.base import Item

DEFAULT_MAX_BYTES = 32 * 1024 * 1024


POINTER_BYTES = 8
"""What a history's list costs per item it holds (the items themselves count in segments)."""


@dataclass(eq=False, slots=True)
class Segment:
    """The items one turn added to the history it extends (all of it, for a history read from
    the database): counted while a held history holds them."""

    size: int
    """JSON bytes of the items this segment brought in."""
    base: Segment | None = None
    """The segment of the history this one extends."""
    total: int = 0
    """JSON bytes of the whole history up to this segment's end."""
    holders: int = 0
    """Held histories ending at this segment, and held segments extending it."""

    def __post_init__(self) -> None:
        self.total = self.size + (0 if self.base is None else self.base.total)

    def extended(self, size: int) -> Segment:
        return Segment(size, self)


@dataclass(eq=False, slots=True)
class History:
    """A list of items that only grows, shared by the cached entries that see a first part."""

    items: list[Item]
    end: Segment
    """The segment of its last items (with those it extends: all of its items)."""
    holders: int = 0
    """Cached entries that see part of it."""
    counted_bytes: int = 0
    counted_end: Segment | None = None
    """What of it was last counted, while held: its list grows after it is."""


@dataclass(frozen=True, slots=True)
class CachedContext:
    history: History
    length: int
    """How many first items of `history` are this context's."""
    generation: int
    next_position: int | None
    """For a conversation: the position its next item takes; None for a chain."""
    segment: Segment
    """The segment of its last items: what a continuation of it extends."""

    @classmethod
    def read(
        cls, items: list[Item], size: int, generation: int, next_position: int | None = None
    ) -> CachedContext:
        """A context read from the database: `size` JSON bytes of `items`."""
        segment = Segment(size)
        return cls(History(list(items), segment), len(items), generation, next_position, segment)

    def items(self) -> list[Item]:
        """Its items, in a list of the caller's own (the items themselves are shared: read,
        never modified)."""
        return self.history.items[: self.length]

    def extended(self, own: list[Item], size: int, next_position: int | None) -> CachedContext:
        """This context, then `own` (`size` JSON bytes): appended to its history if nothing
        was since, else after a copy of the part this one sees."""
        segment = self.segment.extended(size)
        history = self.history
        if self.length == len(history.items):
            history.items.extend(own)
            history.end = segment
        else:
            history = History([*history.items[: self.length], *own], segment)
        return CachedContext(
            history, self.length + len(own), self.generation, next_position, segment
        )


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
        history = entry.history
        if history.holders:
            self._recount(history)  # it grew for this entry, whether it is kept or not
        if entry.segment.total + POINTER_BYTES * entry.length > self._max_bytes:
            self.drop(key)
            return
        replaced = self._entries.pop(key, None)
        self._entries[key] = entry
        # Held before the entry it replaces is let go: a conversation's entry replaced by its
        # extension then moves counts by one, instead of releasing its whole history and
        # holding it again.
        history.holders += 1
        self._recount(history)
        if replaced is not None:
            self._forget(replaced)
        while self._size > self._max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._forget(evicted)

    def drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._forget(entry)

    def _recount(self, history: History) -> None:
        """Bring a held history's count up to what it holds now."""
        pointers = POINTER_BYTES * len(history.items)
        self._size += pointers - history.counted_bytes
        history.counted_bytes = pointers
        if history.counted_end is not history.end:
            self._hold(history.end)
            self._release(history.counted_end)
            history.counted_end = history.end

    def _forget(self, entry: CachedContext) -> None:
        history = entry.history
        history.holders -= 1
        if not history.holders:
            self._size -= history.counted_bytes
            self._release(history.counted_end)
            history.counted_bytes, history.counted_end = 0, None

    def _hold(self, segment: Segment | None) -> None:
        while segment is not None:
            segment.holders += 1
            if segment.holders > 1:
                return
            self._size += segment.size
            segment = segment.base

    def _release(self, segment: Segment | None) -> None:
        while segment is not None:
            segment.holders -= 1
            if segment.holders:
                return
            self._size -= segment.size
            segment = segment.base


def chain_key(tenant: str, response_id: str) -> Key:
    return ("chain", tenant, response_id)


def conversation_key(tenant: str, conversation_id: str) -> Key:
    return ("conversation", tenant, conversation_id)
