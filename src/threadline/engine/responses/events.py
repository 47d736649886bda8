"""Stream events in OpenAI's shape, numbered in one place."""

from __future__ import annotations

from typing import Any

Event = dict[str, Any]


class EventSequencer:
    """Gives every event of one response its `sequence_number`, from 0, strictly increasing."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = 0

    def event(self, type_: str, **fields: Any) -> Event:
        event = {"type": type_, **fields, "sequence_number": self._next}
        self._next += 1
        return event
