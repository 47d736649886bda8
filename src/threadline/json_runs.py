"""JSON arrays built from runs of elements already encoded.

A long history is sent on every turn; its encoded elements are kept between turns (see
`prefix_memo.py`) and only the new ones are encoded. A run is the JSON of some elements,
comma-separated, without the brackets: runs join with a comma into the array of them all,
byte for byte what encoding the whole list gives (orjson writes no spaces)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson


def run_of(values: Sequence[Any]) -> bytes:
    """The run of `values` (empty for none)."""
    return orjson.dumps(list(values))[1:-1] if values else b""


def joined(*runs: bytes) -> bytes:
    """One run of the elements of `runs`, in order."""
    return b",".join(run for run in runs if run)


def array(*runs: bytes) -> bytes:
    """The JSON array of the elements of `runs`, in order."""
    return b"[" + joined(*runs) + b"]"


@dataclass(frozen=True, slots=True)
class EncodedPrefix:
    """The run of the first `count` values of a list that grows, carried on as it does."""

    count: int = 0
    run: bytes = b""

    def extended(self, values: Sequence[Any], count: int) -> EncodedPrefix:
        """This, carried on to the first `count` of `values` (which start with the values
        this holds)."""
        if count <= self.count:
            return self
        return EncodedPrefix(count, joined(self.run, run_of(values[self.count : count])))

    def rest(self, values: Sequence[Any]) -> bytes:
        """The run of `values` (which start with the values this holds): this run and the
        encoded rest."""
        return joined(self.run, run_of(values[self.count :]))
