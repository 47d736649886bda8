"""What a pass over a list of items found, kept for the next list that starts with those items.

A long history is sent again on every turn, and a few passes over it (its Chat Completions
messages, which of its parts need a file resolved, which kinds of item it holds) walked all of
it on every turn, though only the last turn's items are new: about 3 ms a turn at 4,000 items.
A pass whose result for `a + b` can be carried on from its result for `a` keeps that result
here; its next call finds it, checks that the kept items start the new list, and goes on from
there.

The check is list equality, so a match is never wrong whatever the items are: a pointer compare
per item when they are the same objects (the stores' context caches hand out the same objects
turn after turn) and a full compare of those that are not. Results are kept only by passes that
are pure functions of the items, so equal items give an equal result; no tenant, key or file
state may enter one.

Entries are found by their first item's identity (an entry holds its items, so that identity
cannot be reused while it is kept) and a flavour (the pass's options). Lists with the same first
item are branches of one history (its continuation, forks of it): up to `BRANCHES` of them are
kept, each replaced by the longer list that continues it, so that turns alternating between a
few branches each carry on their own (with one entry per first item, each branch's turn threw
away the other's and walked its whole history again). What is kept is bounded by the JSON size
of the items all entries hold (counted once per entry: conservative, since entries mostly share
the context cache's items); the least recently used history goes first, with its branches.
Each entry keeps the running sizes of its items, so that sizing a list serialises only the items
no entry it continues had (a fork of a long history costs its new items, not all).
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

T = TypeVar("T")

DEFAULT_MAX_BYTES = 32 * 1024 * 1024

BRANCHES = 4
"""Lists kept per first item and flavour: the branches of one history a memo carries on."""

DEFAULT_MIN_ITEMS = 64
"""Shorter lists are not kept: walked again in microseconds, and most are the input of a
request that no later one continues (a continued history comes back as other objects, read
from the store, so only the turns after it can find what was kept for it)."""


@dataclass(frozen=True, slots=True)
class Kept(Generic[T]):
    """What a pass kept for the first `len(items)` items of a list."""

    items: list[Any]
    """A copy of the list's items, never changed."""
    result: T
    sizes: array[int]
    """`sizes[n]`: JSON bytes of `items[:n]`."""
    result_bytes: int = 0
    """What `result` holds beyond the items, in bytes (as its pass reported it)."""

    @property
    def size(self) -> int:
        return self.sizes[-1] + self.result_bytes


class PrefixMemo(Generic[T]):
    def __init__(
        self, max_bytes: int = DEFAULT_MAX_BYTES, *, min_items: int = DEFAULT_MIN_ITEMS
    ) -> None:
        self._max_bytes = max_bytes
        self._min_items = max(min_items, 1)
        self._histories: OrderedDict[tuple[Hashable, int], list[Kept[T]]] = OrderedDict()
        """Branches by (flavour, first item's id), each list least recently used first."""
        self._size = 0

    def find(self, flavour: Hashable, items: list[Any]) -> Kept[T] | None:
        """What a call with this flavour kept for the longest list that `items` starts with,
        if any."""
        if len(items) < self._min_items:
            return None
        key = (flavour, id(items[0]))
        branches = self._histories.get(key)
        if branches is None:
            return None
        found: Kept[T] | None = None
        at = 0
        for index, kept in enumerate(branches):
            n = len(kept.items)
            if n > len(items) or (found is not None and n <= len(found.items)):
                continue
            # A branch that forked early differs within its first items: the compare stops there.
            if (items[:n] if n < len(items) else items) == kept.items:
                found, at = kept, index
        if found is not None:
            self._histories.move_to_end(key)
            branches.append(branches.pop(at))
        return found

    def keep(
        self,
        flavour: Hashable,
        items: list[Any],
        result: T,
        continued: Kept[T] | None = None,
        *,
        result_bytes: int = 0,
    ) -> None:
        """Keep `result` for `items`, in place of `continued` (what `find` gave for `items` in
        the same synchronous step, if anything: its items are known to start `items` without
        comparing them again), else beside the other branches of its history (the least
        recently used goes past `BRANCHES`). `result_bytes`: what the result holds of its own
        (bytes it made, not the items' objects it shares), counted against the bound."""
        if len(items) < self._min_items or self._max_bytes <= 0:
            return
        key = (flavour, id(items[0]))
        branches = self._histories.pop(key, [])
        if continued is not None and not any(kept is continued for kept in branches):
            continued = None  # dropped since it was found
        # Sized from the branch it continues, or the latest: most of a fork's items are its.
        base = continued if continued is not None else (branches[-1] if branches else None)
        shared = 0
        if base is not None:
            shared = len(base.items) if base is continued else _common_length(items, base.items)
        sizes = array("q", () if base is None else base.sizes[: shared + 1])
        total = sizes[-1] if sizes else 0
        if not sizes:
            sizes.append(0)
        try:
            for index in range(shared, len(items)):
                total += len(orjson.dumps(items[index]))
                sizes.append(total)
            kept: Kept[T] | None = Kept(list(items), result, sizes, result_bytes)
        except TypeError:
            kept = None  # not JSON: nothing a stored history holds
        if kept is not None and kept.size <= self._max_bytes:
            if continued is not None:
                branches = [branch for branch in branches if branch is not continued]
                self._size -= continued.size
            branches.append(kept)
            self._size += kept.size
            while len(branches) > BRANCHES:
                self._size -= branches.pop(0).size
        if branches:
            self._histories[key] = branches
        while self._size > self._max_bytes:
            _, evicted = self._histories.popitem(last=False)
            self._size -= sum(branch.size for branch in evicted)

    @property
    def size(self) -> int:
        """JSON bytes of the items all entries hold."""
        return self._size


def _common_length(items: list[Any], kept: list[Any]) -> int:
    """How many first items `items` and `kept` share. A list usually differs from the one kept
    only near its end (the last turn's input, where a fork begins), so candidate lengths are
    tried from the end back, by doubling steps, then bisected; each try is one C-level compare
    of two prefixes."""

    def same(n: int) -> bool:
        return items[:n] == kept[:n]

    longest = min(len(items), len(kept))
    if same(longest):
        return longest
    differs, step = longest, 1
    while True:
        candidate = max(longest - step, 0)
        if same(candidate):
            break
        differs, step = candidate, step * 2
    shares = candidate
    while differs - shares > 1:
        middle = (shares + differs) // 2
        if same(middle):
            shares = middle
        else:
            differs = middle
    return shares
