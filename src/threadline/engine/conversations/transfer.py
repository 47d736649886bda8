"""Export a conversation as one JSON document, and import it, or a Chat Completions history.

Export → import keeps the content, metadata, `created_at` and every item id; the imported
conversation gets a new conversation id (the original may still exist beside it, each with its
own copy of the items: stores keep an item per conversation, so the ids do not collide). Within
one export an id appears once: a repeated id would make `GET …/items/{id}`, `after` and item
deletion ambiguous, so it is refused.
A chat-message list (`[{"role": "user", "content": "…"}, …]`, the format people keep in
`conversation_history.json`) becomes messages, function calls and their outputs.
"""

from __future__ import annotations

import time
from typing import Any

from threadline import ids
from threadline.engine.conversations.claims import (
    ConversationPolicy,
    conversation_not_found,
    conversation_object,
)
from threadline.engine.conversations.service import ConversationService
from threadline.engine.input_items import canonical_item
from threadline.engine.validation import check_metadata
from threadline.errors import InvalidRequest
from threadline.protocol.conversations import ChatMessage, ConversationExport
from threadline.protocol.items import ItemReference
from threadline.storage.base import Item, Store


class ConversationTransfer:
    def __init__(
        self, store: Store, conversations: ConversationService, policy: ConversationPolicy
    ) -> None:
        self._store = store
        self._conversations = conversations
        self._policy = policy

    async def export(self, tenant: str, conversation_id: str) -> dict[str, Any]:
        loaded = await self._store.load_conversation(tenant, conversation_id)
        if loaded is None:
            raise conversation_not_found(conversation_id)
        record, items = loaded
        return {
            "object": "conversation.export",
            "version": 1,
            "exported_at": int(time.time()),
            "conversation": conversation_object(self._policy.effective(record)),
            "items": items,
        }

    async def import_export(self, tenant: str, document: ConversationExport) -> dict[str, Any]:
        check_metadata(document.conversation.metadata)
        items: list[Item] = []
        first_seen: dict[str, int] = {}
        for index, item in enumerate(document.items):
            if isinstance(item, ItemReference):
                raise InvalidRequest(
                    "An export holds items, not references.", param=f"items[{index}]"
                )
            canonical = canonical_item(item, f"items[{index}]")
            earlier = first_seen.setdefault(canonical["id"], index)
            if earlier != index:
                raise InvalidRequest(
                    f"Duplicate item id '{canonical['id']}': items[{earlier}] has it already. "
                    "Each item of an export needs its own id.",
                    param=f"items[{index}].id",
                )
            items.append(canonical)
        record = await self._conversations.create_record(
            tenant,
            dict(document.conversation.metadata),
            items,
            created_at=document.conversation.created_at,
        )
        return conversation_object(record)

    async def import_chat(self, tenant: str, messages: list[ChatMessage]) -> dict[str, Any]:
        record = await self._conversations.create_record(tenant, {}, chat_to_items(messages))
        return conversation_object(record)


def chat_to_items(messages: list[ChatMessage]) -> list[Item]:
    items: list[Item] = []
    for index, message in enumerate(messages):
        where = f"[{index}]"
        if message.role == "tool":
            if not message.tool_call_id:
                raise InvalidRequest(
                    "A tool message needs 'tool_call_id'.", param=f"{where}.tool_call_id"
                )
            items.append(
                _item(
                    ids.FUNCTION_CALL_OUTPUT,
                    type="function_call_output",
                    call_id=message.tool_call_id,
                    output=_text(message.content),
                )
            )
            continue
        # An assistant message that only calls tools becomes just its function calls.
        if message.role != "assistant" or _text(message.content) or not message.tool_calls:
            content = _message_content(message, where)
            items.append(_item(ids.MESSAGE, type="message", role=message.role, content=content))
        for call in message.tool_calls or ():
            items.append(
                _item(
                    ids.FUNCTION_CALL,
                    type="function_call",
                    call_id=call.id,
                    name=call.function.name,
                    arguments=call.function.arguments,
                )
            )
    return items


def _message_content(message: ChatMessage, where: str) -> list[dict[str, Any]]:
    text_type = "output_text" if message.role == "assistant" else "input_text"
    if isinstance(message.content, list):
        parts = _parts(message.content, text_type, where)
    else:
        parts = [{"type": text_type, "text": message.content or ""}]
    for part in parts:
        if part["type"] == "output_text":
            part["annotations"] = []
    return parts


def _item(prefix: str, **fields: Any) -> Item:
    return {"id": ids.new_id(prefix), **fields, "status": "completed"}


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))


def _parts(content: list[dict[str, Any]], text_type: str, where: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": text_type, "text": str(part.get("text", ""))})
        elif kind == "image_url" and text_type == "input_text":
            image = part.get("image_url") or {}
            url = image.get("url") if isinstance(image, dict) else image
            parts.append({"type": "input_image", "image_url": url, "detail": "auto"})
        else:
            raise InvalidRequest(
                f"Unsupported chat content part type {kind!r}.",
                param=f"{where}.content[{index}].type",
            )
    return parts
