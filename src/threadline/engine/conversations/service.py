"""The Conversations use cases: OpenAI's endpoints, plus listing and closing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline import ids
from threadline.engine.clock import Clock, system_clock
from threadline.engine.conversations.claims import (
    ConversationPolicy,
    conversation_not_found,
    conversation_object,
)
from threadline.engine.disclosure import disclosure, shown_item, shown_page
from threadline.engine.input_items import normalize_input
from threadline.engine.pages import item_page, list_page
from threadline.engine.validation import check_metadata
from threadline.errors import NotFound
from threadline.protocol.conversations import (
    ConversationCreateParams,
    ConversationsListQuery,
    ConversationUpdateParams,
    ItemsCreateParams,
    ItemsListQuery,
)
from threadline.storage.base import ConversationFilter, ConversationRecord, Item, Store


class ConversationService:
    def __init__(
        self, store: Store, policy: ConversationPolicy, clock: Clock = system_clock
    ) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock

    async def create(self, tenant: str, params: ConversationCreateParams) -> dict[str, Any]:
        metadata = params.metadata or {}
        check_metadata(metadata)
        items = await normalize_input(self._store, tenant, params.items, param="items")
        record = await self.create_record(tenant, metadata, items)
        return conversation_object(record)

    async def create_record(
        self,
        tenant: str,
        metadata: dict[str, str],
        items: list[Item],
        created_at: float | None = None,
    ) -> ConversationRecord:
        now = self._clock()
        record = ConversationRecord(
            id=ids.new_id(ids.CONVERSATION),
            tenant=tenant,
            created_at=created_at if created_at is not None else now,
            metadata=metadata,
            last_active_at=now,
        )
        await self._store.create_conversation(record, items)
        return record

    async def retrieve(self, tenant: str, conversation_id: str) -> dict[str, Any]:
        return conversation_object(await self.record(tenant, conversation_id))

    async def record(self, tenant: str, conversation_id: str) -> ConversationRecord:
        record = await self._store.get_conversation(tenant, conversation_id)
        if record is None:
            raise conversation_not_found(conversation_id)
        return self._policy.effective(record)

    async def update(
        self, tenant: str, conversation_id: str, params: ConversationUpdateParams
    ) -> dict[str, Any]:
        metadata = params.metadata or {}
        check_metadata(metadata)
        record = await self._store.update_conversation(tenant, conversation_id, metadata=metadata)
        if record is None:
            raise conversation_not_found(conversation_id)
        return conversation_object(self._policy.effective(record))

    async def delete(self, tenant: str, conversation_id: str) -> dict[str, Any]:
        if not await self._store.delete_conversation(tenant, conversation_id):
            raise conversation_not_found(conversation_id)
        return {"id": conversation_id, "object": "conversation.deleted", "deleted": True}

    async def close(self, tenant: str, conversation_id: str) -> dict[str, Any]:
        record = await self.record(tenant, conversation_id)
        if record.status == "closed":
            return conversation_object(record)
        if record.status == "expired":
            self._policy.ensure_open(record)  # raises: an expired conversation stays expired
        updated = await self._store.update_conversation(
            tenant, conversation_id, status="closed", status_changed_at=self._clock()
        )
        if updated is None:
            raise conversation_not_found(conversation_id)
        return conversation_object(updated)

    async def list(
        self, tenant: str, query: ConversationsListQuery, metadata: dict[str, str]
    ) -> dict[str, Any]:
        flt = ConversationFilter(
            metadata=metadata,
            status=query.status,
            created_after=query.created_after,
            created_before=query.created_before,
            active_after=query.active_after,
            active_before=query.active_before,
        )
        now = self._clock()
        if self._policy.idle_ttl is not None and query.status is not None:
            # Expiry is decided on read: record it first so the status filter sees it.
            await self._store.expire_idle_conversations(now - self._policy.idle_ttl, now)
        page = await self._store.list_conversations(
            tenant, flt, after=query.after, limit=query.limit
        )
        data = [conversation_object(self._policy.effective(c)) for c in page.conversations]
        return list_page(data, has_more=page.has_more)

    async def add_items(
        self,
        tenant: str,
        conversation_id: str,
        params: ItemsCreateParams,
        include: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        record = await self.record(tenant, conversation_id)
        self._policy.ensure_open(record)
        items = await normalize_input(self._store, tenant, params.items, param="items")
        if not await self._store.append_items(tenant, conversation_id, items, self._clock()):
            raise conversation_not_found(conversation_id)
        return shown_page(list_page(items, has_more=False), disclosure(include))

    async def list_items(
        self, tenant: str, conversation_id: str, query: ItemsListQuery
    ) -> dict[str, Any]:
        page = await self._store.list_conversation_items(
            tenant, conversation_id, after=query.after, limit=query.limit, order=query.order
        )
        if page is None:
            raise conversation_not_found(conversation_id)
        return shown_page(item_page(page), disclosure(query.include))

    async def get_item(
        self,
        tenant: str,
        conversation_id: str,
        item_id: str,
        include: Sequence[str] | None = None,
    ) -> Item:
        await self.record(tenant, conversation_id)
        item = await self._store.get_conversation_item(tenant, conversation_id, item_id)
        if item is None:
            raise _item_not_found(item_id)
        return shown_item(item, disclosure(include))

    async def delete_item(self, tenant: str, conversation_id: str, item_id: str) -> dict[str, Any]:
        record = await self.record(tenant, conversation_id)
        if not await self._store.delete_conversation_item(tenant, conversation_id, item_id):
            raise _item_not_found(item_id)
        return conversation_object(record)


def _item_not_found(item_id: str) -> NotFound:
    return NotFound(f"Item with id '{item_id}' not found.", param="item_id")
