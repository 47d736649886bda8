"""What a reader is shown of an item. Items are stored whole; two parts leave the server only
when the reader's `include` asks for them:

- a provider's sealed reasoning (a reasoning item's `encrypted_content`): stored turns replay
  it to the provider, but a reader sees it only with
  `include: ["reasoning.encrypted_content"]`, or with the turn that made it when that turn is
  not stored (its client then carries the reasoning itself, as with OpenAI);
- a file search's `results` (`include: ["file_search_call.results"]`): kept so that later
  turns replay what the model read; without the include a reader gets `results: null`, as
  from OpenAI.

The items given here are never changed: a reader gets copies without the parts.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from threadline.storage.base import Item

REASONING_SEALS = "reasoning.encrypted_content"
FILE_SEARCH_RESULTS = "file_search_call.results"


@dataclass(frozen=True, slots=True)
class Disclosure:
    """Which of the parts a reader may be kept from they are shown."""

    reasoning: bool = False
    file_search_results: bool = False

    @property
    def everything(self) -> bool:
        return self.reasoning and self.file_search_results


NOTHING_ASKED = Disclosure()
"""A reader whose `include` asks for neither part."""


def disclosure(include: Collection[str] | None, *, stored: bool = True) -> Disclosure:
    """What a reader whose request says `include` (about a turn `stored` or not) is shown."""
    asked = include or ()
    return Disclosure(
        reasoning=not stored or REASONING_SEALS in asked,
        file_search_results=FILE_SEARCH_RESULTS in asked,
    )


def shown_item(item: Item, shown: Disclosure) -> Item:
    kind = item.get("type")
    if kind == "reasoning" and not shown.reasoning and "encrypted_content" in item:
        return {key: value for key, value in item.items() if key != "encrypted_content"}
    if kind == "file_search_call" and not shown.file_search_results and item.get("results"):
        return {**item, "results": None}
    return item


def shown_items(items: list[Item], shown: Disclosure) -> list[Item]:
    return items if shown.everything else [shown_item(item, shown) for item in items]


def shown_response(response: dict[str, Any], shown: Disclosure) -> dict[str, Any]:
    """A Response object (or a compaction's) as the reader is shown it."""
    if shown.everything:
        return response
    return {**response, "output": shown_items(response["output"], shown)}


def shown_page(page: dict[str, Any], shown: Disclosure) -> dict[str, Any]:
    """A list page of items as the reader is shown it."""
    if shown.everything:
        return page
    return {**page, "data": shown_items(page["data"], shown)}


def shown_event(event: dict[str, Any], shown: Disclosure) -> dict[str, Any]:
    """A stream event as the reader is shown it: its item, or its response's output."""
    if shown.everything:
        return event
    if "item" in event:
        item = shown_item(event["item"], shown)
        return event if item is event["item"] else {**event, "item": item}
    if "response" in event:
        return {**event, "response": shown_response(event["response"], shown)}
    return event
