"""Turn a request's `input` into stored items: OpenAI's canonical form, each with an id."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from threadline import ids
from threadline.errors import InvalidRequest
from threadline.protocol.items import (
    Compaction,
    FunctionCall,
    FunctionCallOutput,
    ItemReference,
    McpApprovalRequest,
    McpApprovalResponse,
    McpCall,
    McpListTools,
    Message,
    Reasoning,
    WebSearchCall,
)
from threadline.storage.base import Item, Store

_TEXT_PARTS = ("input_text", "output_text", "refusal")


def user_text_message(text: str) -> Item:
    return {
        "id": ids.new_id(ids.MESSAGE),
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }


async def normalize_input(
    store: Store, tenant: str, raw: str | list[Any] | None, *, param: str = "input"
) -> list[Item]:
    """Canonical items for `raw`; `item_reference`s are replaced by the items they name."""
    if raw is None:
        return []
    if isinstance(raw, str):
        return [user_text_message(raw)]
    references = [item.id for item in raw if isinstance(item, ItemReference)]
    found = await store.get_items(tenant, references) if references else {}
    items: list[Item] = []
    for index, item in enumerate(raw):
        where = f"{param}[{index}]"
        if isinstance(item, ItemReference):
            if item.id not in found:
                raise InvalidRequest(f"Item with id '{item.id}' not found.", param=f"{where}.id")
            items.append(dict(found[item.id]))
        else:
            items.append(canonical_item(item, where))
    return items


def canonical_item(item: BaseModel, where: str) -> Item:
    data = item.model_dump(exclude_none=True, by_alias=True)
    if isinstance(item, Message):
        data["content"] = _message_content(item, where)
        data.setdefault("id", ids.new_id(ids.MESSAGE))
        data.setdefault("status", "completed")
        return {"id": data.pop("id"), **data}
    if isinstance(item, FunctionCall):
        data.setdefault("id", ids.new_id(ids.FUNCTION_CALL))
    elif isinstance(item, FunctionCallOutput):
        data.setdefault("id", ids.new_id(ids.FUNCTION_CALL_OUTPUT))
    elif isinstance(item, McpApprovalResponse):
        data.setdefault("id", ids.new_id(ids.MCP_APPROVAL_RESPONSE))
        return {"id": data.pop("id"), **data}
    elif isinstance(item, McpListTools | McpApprovalRequest):
        return {"id": data.pop("id"), **data}
    elif isinstance(item, McpCall | WebSearchCall):
        # Replayed server-tool items keep the status they were given (a failed call stays so).
        data.setdefault("status", "completed")
        return {"id": data.pop("id"), **data}
    elif isinstance(item, Compaction):
        data.setdefault("id", ids.new_id(ids.COMPACTION))
        return {"id": data.pop("id"), **data}
    elif not isinstance(item, Reasoning):
        raise InvalidRequest(f"Unsupported item at {where}.", param=where)
    data.setdefault("status", "completed")
    return {"id": data.pop("id"), **data}


def _message_content(message: Message, where: str) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        if message.role == "assistant":
            return [{"type": "output_text", "text": message.content, "annotations": []}]
        return [{"type": "input_text", "text": message.content}]
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(message.content):
        at = f"{where}.content[{index}]"
        data = part.model_dump(exclude_none=True)
        kind = data["type"]
        if kind in _TEXT_PARTS:
            parts.append(data)
            continue
        if message.role == "assistant":
            raise InvalidRequest(
                f"Invalid value: '{kind}'. Assistant messages hold only 'output_text' and "
                "'refusal' parts.",
                param=f"{at}.type",
            )
        if kind == "input_image":
            _check_image(data, at)
        elif kind == "input_file":
            _check_file(data, at)
        parts.append(data)
    return parts


def _check_image(part: dict[str, Any], at: str) -> None:
    if not part.get("image_url") and not part.get("file_id"):
        raise InvalidRequest(
            "An input_image needs 'image_url' or 'file_id'.", param=f"{at}.image_url"
        )


def _check_file(part: dict[str, Any], at: str) -> None:
    # The file itself is resolved when the model is called (engine/files/inputs.py).
    given = [name for name in ("file_id", "file_url", "file_data") if part.get(name)]
    if len(given) != 1:
        raise InvalidRequest(
            "An input_file needs exactly one of 'file_id', 'file_url' or 'file_data'.",
            param=f"{at}.file_id" if not given else f"{at}.{given[1]}",
        )
