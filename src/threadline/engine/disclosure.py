"""What a reader is shown of an item: a provider's sealed reasoning (a reasoning item's
`encrypted_content`) stays with the stored item, so stored turns replay it to the provider,
but leaves the server only when the reader asks for it with
`include: ["reasoning.encrypted_content"]`, or with the turn that made it when that turn is
not stored (its client then carries the reasoning itself, as with OpenAI).

The items given here are never changed: a reader gets copies without the field.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from threadline.storage.base import Item

REASONING_SEALS = "reasoning.encrypted_content"


def reveals_reasoning(include: Collection[str] | None, *, stored: bool = True) -> bool:
    """Whether the reader is shown sealed reasoning."""
    return not stored or (include is not None and REASONING_SEALS in include)


def shown_item(item: Item, reveal: bool) -> Item:
    if reveal or item.get("type") != "reasoning" or "encrypted_content" not in item:
        return item
    return {key: value for key, value in item.items() if key != "encrypted_content"}


def shown_items(items: list[Item], reveal: bool) -> list[Item]:
    return items if reveal else [shown_item(item, False) for item in items]


def shown_response(response: dict[str, Any], reveal: bool) -> dict[str, Any]:
    """A Response object (or a compaction's) as the reader is shown it."""
    if reveal:
        return response
    return {**response, "output": shown_items(response["output"], False)}


def shown_page(page: dict[str, Any], reveal: bool) -> dict[str, Any]:
    """A list page of items as the reader is shown it."""
    if reveal:
        return page
    return {**page, "data": shown_items(page["data"], False)}


def shown_event(event: dict[str, Any], reveal: bool) -> dict[str, Any]:
    """A stream event as the reader is shown it: its item, or its response's output."""
    if reveal:
        return event
    if "item" in event:
        item = shown_item(event["item"], False)
        return event if item is event["item"] else {**event, "item": item}
    if "response" in event:
        return {**event, "response": shown_response(event["response"], False)}
    return event
