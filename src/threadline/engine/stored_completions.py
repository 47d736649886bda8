"""Stored chat completions (`store: true` on Chat Completions), as OpenAI has them: each kept
(by `chat_completions.py`) as it was returned with the messages it was asked with, then listed
(by model and metadata), read, relabelled (its metadata is the only part that changes),
deleted and exported, per tenant.

The messages are listed as OpenAI lists them: each with the id `<completion id>-<index>`, its
text as `content` and, when it was sent as parts, the parts as `content_parts`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter

from threadline import ids
from threadline.engine.chat_completions import chat_items
from threadline.engine.pages import list_page
from threadline.engine.validation import check_metadata
from threadline.errors import InvalidRequest, NotFound
from threadline.protocol.chat import (
    ChatMessage,
    StoredCompletionsQuery,
    StoredCompletionUpdate,
    StoredMessagesQuery,
)
from threadline.storage.base import CompletionFilter, Item, Store, StoredCompletion


class StoredCompletions:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def retrieve(self, tenant: str, completion_id: str) -> dict[str, Any]:
        return completion_object(await self._record(tenant, completion_id))

    async def list(
        self, tenant: str, query: StoredCompletionsQuery, metadata: Mapping[str, str]
    ) -> dict[str, Any]:
        page = await self._store.list_completions(
            tenant,
            CompletionFilter(model=query.model, metadata=metadata),
            after=query.after,
            limit=query.limit,
            order=query.order,
        )
        return list_page([completion_object(c) for c in page.completions], has_more=page.has_more)

    async def update(
        self, tenant: str, completion_id: str, params: StoredCompletionUpdate
    ) -> dict[str, Any]:
        metadata = params.metadata or {}
        check_metadata(metadata)
        updated = await self._store.update_completion_metadata(tenant, completion_id, metadata)
        if updated is None:
            raise _not_found(completion_id)
        return completion_object(updated)

    async def delete(self, tenant: str, completion_id: str) -> dict[str, Any]:
        if not await self._store.delete_completion(tenant, completion_id):
            raise _not_found(completion_id)
        return {"object": "chat.completion.deleted", "id": completion_id, "deleted": True}

    async def messages(
        self, tenant: str, completion_id: str, query: StoredMessagesQuery
    ) -> dict[str, Any]:
        record = await self._record(tenant, completion_id)
        shown = [_message(completion_id, i, m) for i, m in enumerate(record.messages)]
        if query.order == "desc":
            shown.reverse()
        start = 0
        if query.after is not None:
            ids = [message["id"] for message in shown]
            if query.after not in ids:
                raise InvalidRequest(
                    f"No message with id '{query.after}' in this list", param="after"
                )
            start = ids.index(query.after) + 1
        page = shown[start : start + query.limit]
        return list_page(page, has_more=start + query.limit < len(shown))

    async def export(self, tenant: str, completion_id: str) -> dict[str, Any]:
        """The completion as a conversation export (`POST /v1/conversations/import` takes it):
        its messages and its answer as items, its metadata and creation time, so a history kept
        as chat completions can go on as a conversation."""
        record = await self._record(tenant, completion_id)
        # Read as they were when the completion was made (they passed then), answer included.
        answer = record.completion["choices"][0]["message"]
        messages = _MESSAGES.validate_python([*record.messages, answer])
        return {
            "object": "conversation.export",
            "version": 1,
            "exported_at": int(time.time()),
            "conversation": {
                "id": record.id,
                "object": "conversation",
                "created_at": int(record.created_at),
                "metadata": record.metadata,
            },
            "items": [_with_id(item) for item in chat_items(messages)],
        }

    async def _record(self, tenant: str, completion_id: str) -> StoredCompletion:
        record = await self._store.get_completion(tenant, completion_id)
        if record is None:
            raise _not_found(completion_id)
        return record


def completion_object(record: StoredCompletion) -> dict[str, Any]:
    return {**record.completion, "metadata": record.metadata}


def _message(completion_id: str, index: int, message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    parts = content if isinstance(content, list) else None
    if parts is not None:
        texts = [part["text"] for part in parts if part.get("type") == "text"]
        content = "".join(texts) if texts else None
    shown: dict[str, Any] = {
        "id": f"{completion_id}-{index}",
        "role": message["role"],
        "content": content,
        "name": message.get("name"),
        "content_parts": parts,
    }
    for key in ("refusal", "tool_calls", "tool_call_id"):
        if key in message:
            shown[key] = message[key]
    return shown


_MESSAGES: TypeAdapter[list[ChatMessage]] = TypeAdapter(list[ChatMessage])
_ID_PREFIXES = {
    "message": ids.MESSAGE,
    "function_call": ids.FUNCTION_CALL,
    "function_call_output": ids.FUNCTION_CALL_OUTPUT,
}


def _with_id(item: Item) -> Item:
    """An exported item, with the id and status every stored item has."""
    return {"id": ids.new_id(_ID_PREFIXES[item["type"]]), **item, "status": "completed"}


def _not_found(completion_id: str) -> NotFound:
    return NotFound(f"Chat completion with id '{completion_id}' not found.", param="completion_id")
