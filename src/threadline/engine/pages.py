"""OpenAI's list page object."""

from __future__ import annotations

from typing import Any

from threadline.storage.base import ItemPage


def item_page(page: ItemPage) -> dict[str, Any]:
    data = page.items
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": page.has_more,
    }
