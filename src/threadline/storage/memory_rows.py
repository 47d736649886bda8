"""The rows of MemoryStore: one per stored item, kept as orjson bytes, pages of them, and the
response that owns them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import Any, cast

import orjson

from threadline.errors import InvalidRequest
from threadline.storage.base import Item, ItemPage, Order, ResponseRecord


@dataclasses.dataclass(slots=True, eq=False)
class Row:
    """One stored item; the same object sits in its response's and its conversation's list."""

    seq: int
    tenant: str
    item_id: str
    data: bytes
    response_id: str | None = None
    kind: str | None = None
    position: int | None = None
    conversation_id: str | None = None
    conversation_position: int | None = None

    def item(self) -> Item:
        return cast(Item, orjson.loads(self.data))


# Rows in a response's (conversation's) list always have a position (conversation position).
POSITION = attrgetter("position")
CONVERSATION_POSITION = attrgetter("conversation_position")


def page(
    rows: list[Row], key: Callable[[Row], Any], after: str | None, limit: int, order: Order
) -> ItemPage:
    """`rows` are in ascending `key` order; the cursor rule is the SQL store's."""
    if after is not None:
        cursor = next((key(row) for row in rows if row.item_id == after), None)
        if cursor is None:
            raise InvalidRequest(f"No item with id '{after}' in this list", param="after")
        if order == "asc":
            rows = [row for row in rows if key(row) > cursor]
        else:
            rows = [row for row in rows if key(row) < cursor]
    ordered = rows if order == "asc" else rows[::-1]
    return ItemPage(items=[row.item() for row in ordered[:limit]], has_more=len(ordered) > limit)


@dataclasses.dataclass(slots=True)
class MemoryResponse:
    record: ResponseRecord
    conversation_position: int | None  # where the turn begins in its conversation, as in SQL
    rows: list[Row]
    owner: str | None = None
    lease_until: float = 0.0


def clone(value: Any) -> Any:
    """A deep copy through JSON: what a SQL store would give back, and nothing it would refuse."""
    return orjson.loads(orjson.dumps(value))


def copy_response(record: ResponseRecord) -> ResponseRecord:
    fields = ("settings", "usage", "error", "incomplete_details")
    return dataclasses.replace(record, **{f: clone(getattr(record, f)) for f in fields})
