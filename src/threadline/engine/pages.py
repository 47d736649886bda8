"""OpenAI's list page object."""

from __future__ import annotations

from typing import Any

from threadline.storage.base import ItemPage


def list_page(data: list[dict[str, Any]], *, has_more: bool) -> dict[str, Any]:
    """The `list` object around `data`, with the cursor ids of its ends."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def item_page(page: ItemPage) -> dict[str, Any]:
    return list_page(page.items, has_more=page.has_more)
