"""Which kinds of item a turn's context holds, found once per item of a long history.

Most of a long history is messages, and most of the model view's passes only act on other
kinds: compaction items, reasoning, server-side tool items, function calls and their outputs.
Each pass used to walk the whole context on every turn to find out that it had nothing to do.
`ContextKinds` finds the kinds once per item (carried on from the last turn's list with
prefix_memo.py: the kinds are a pure function of the items), so a pass that has nothing to do is
skipped, and the check of function calls looks at the calls alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from threadline.prefix_memo import DEFAULT_MAX_BYTES, DEFAULT_MIN_ITEMS, PrefixMemo
from threadline.storage.base import Item

_CALL_TYPES = frozenset({"function_call", "function_call_output"})


@dataclass(frozen=True, slots=True)
class Kinds:
    types: frozenset[str]
    """The item types present other than `message`."""
    calls: tuple[int, ...]
    """Where the function calls and function call outputs are."""


class ContextKinds:
    def __init__(
        self, max_bytes: int = DEFAULT_MAX_BYTES, *, min_items: int = DEFAULT_MIN_ITEMS
    ) -> None:
        self._memo: PrefixMemo[Kinds] = PrefixMemo(max_bytes, min_items=min_items)

    def of(self, history: list[Item], input_items: list[Item]) -> Kinds:
        """The kinds in `history + input_items`; what is kept is the history's, which the
        next turn continues (or a fork of this one starts from again)."""
        kept = self._memo.find(None, history)
        start = 0 if kept is None else len(kept.items)
        types = set() if kept is None else set(kept.result.types)
        calls = [] if kept is None else list(kept.result.calls)
        _scan(history, start, types, calls)
        self._memo.keep(None, history, Kinds(frozenset(types), tuple(calls)), kept)
        _scan(input_items, 0, types, calls, offset=len(history))
        return Kinds(frozenset(types), tuple(calls))


def _scan(
    items: list[Item], start: int, types: set[str], calls: list[int], *, offset: int = 0
) -> None:
    for index in range(start, len(items)):
        kind = items[index].get("type", "message")
        if kind != "message":
            types.add(str(kind))
            if kind in _CALL_TYPES:
                calls.append(offset + index)
