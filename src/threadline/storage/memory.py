"""MemoryStore: the storage contract in plain dicts and lists, for tests and `memory://`.

It keeps the SQL store's model (one row per item, owned by a response and/or placed in a
conversation) so that the contract suite exercises the same semantics on both. Items are kept
as orjson bytes and records as copies: a caller mutating what it got back cannot change what is
stored, and anything SQL would refuse to serialize is refused here too.

No method awaits, so each one runs to completion without interleaving with another coroutine:
that is what makes `save_turn` and `append_items` atomic here. Every method validates and
serializes before it mutates anything.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable
from typing import Any

import orjson

from threadline.errors import (
    Conflict,
    ConversationDeleted,
    InvalidRequest,
    PreviousResponseInProgress,
    ResponseDeleted,
)
from threadline.storage.base import (
    EVERY_TENANT,
    ConversationClaim,
    ConversationFilter,
    ConversationPage,
    ConversationRecord,
    ConversationStatus,
    Item,
    ItemPage,
    Order,
    ResponseRecord,
    Store,
    StoredResponse,
    TenantScope,
    TurnRecord,
    TurnStart,
)
from threadline.storage.memory_audit import MemoryAudit
from threadline.storage.memory_changes import MemoryChanges
from threadline.storage.memory_completions import MemoryCompletions
from threadline.storage.memory_holds import MemoryHolds
from threadline.storage.memory_item_search import MemoryItemSearch
from threadline.storage.memory_jobs import MemoryJobs
from threadline.storage.memory_keys import MemoryApiKeys
from threadline.storage.memory_resealing import MemoryResealing
from threadline.storage.memory_response_listing import MemoryResponseListing
from threadline.storage.memory_rows import (
    CONVERSATION_POSITION,
    POSITION,
    MemoryResponse,
    Row,
    clone,
    copy_response,
    page,
)
from threadline.storage.memory_usage import MemoryUsage
from threadline.storage.memory_vectors import MemoryVectorStores
from threadline.storage.memory_webhooks import MemoryWebhooks


@dataclasses.dataclass(slots=True)
class _Conversation:
    record: ConversationRecord
    rows: list[Row]
    next_position: int
    turn_owner: str | None = None
    turn_lease_until: float = 0.0


def _running(record: ResponseRecord) -> bool:
    return record.status == "in_progress"


def _copy_conversation(record: ConversationRecord) -> ConversationRecord:
    return dataclasses.replace(record, metadata=dict(record.metadata))


class MemoryStore(
    MemoryVectorStores,
    MemoryJobs,
    MemoryWebhooks,
    MemoryApiKeys,
    MemoryCompletions,
    MemoryChanges,
    MemoryUsage,
    MemoryAudit,
    MemoryHolds,
    MemoryItemSearch,
    MemoryResponseListing,
    MemoryResealing,
    Store,
):
    writes_in_order = True  # no method awaits: each runs whole, in call order

    def __init__(self) -> None:
        MemoryVectorStores.__init__(self)
        MemoryJobs.__init__(self)
        MemoryWebhooks.__init__(self)
        MemoryApiKeys.__init__(self)
        MemoryCompletions.__init__(self)
        MemoryChanges.__init__(self)
        MemoryUsage.__init__(self)
        MemoryAudit.__init__(self)
        MemoryHolds.__init__(self)
        self._seq = itertools.count(1)
        self._rows: dict[int, Row] = {}
        self._responses: dict[str, MemoryResponse] = {}
        self._conversations: dict[str, _Conversation] = {}

    # -- lifecycle ----------------------------------------------------------------------------
    async def migrate(self) -> None:
        """Nothing to migrate: the schema is this module."""

    async def close(self) -> None:
        """Nothing to release."""

    async def ping(self) -> None:
        """Always reachable."""

    # -- responses ----------------------------------------------------------------------------
    async def start_turn(self, start: TurnStart) -> None:
        record = copy_response(start.response)
        if record.id in self._responses:
            raise Conflict(f"A response with id '{record.id}' already exists")
        conversation = self._conversation(record.tenant, record.conversation_id)
        if record.conversation_id is not None and conversation is None:
            raise ConversationDeleted(record.conversation_id)
        rows = self._new_rows(record.tenant, start.input_items)
        for position, row in enumerate(rows):
            row.response_id, row.position, row.kind = record.id, position, "input"
        where = None if conversation is None else conversation.next_position
        self._responses[record.id] = MemoryResponse(
            record, where, rows, start.owner, start.lease_until
        )
        self._response_changed(record)

    async def renew_turns(self, owner: str, lease_until: float) -> int:
        running = [r for r in self._responses.values() if r.owner == owner and _running(r.record)]
        for response in running:
            response.lease_until = lease_until
        return len(running)

    async def fail_abandoned_turns(self, now: float, error: dict[str, Any]) -> int:
        lapsed = [
            r
            for r in self._responses.values()
            if _running(r.record) and r.lease_until < now and r.record.id not in self._jobs
        ]
        for response in lapsed:
            response.record.status, response.record.error = "failed", clone(error)
            response.owner = None
            self._response_changed(response.record)
        return len(lapsed)

    async def save_turn(self, turn: TurnRecord) -> None:
        record = copy_response(turn.response)
        started = self._responses.get(record.id) if turn.started else None
        if turn.started and started is None:
            if record.conversation_id is not None and record.conversation_id not in (
                self._conversations
            ):
                raise ConversationDeleted(record.conversation_id)
            raise ResponseDeleted(record.id)
        if started is None and record.id in self._responses:
            raise Conflict(f"A response with id '{record.id}' already exists")
        conversation = self._conversation(record.tenant, record.conversation_id)
        if record.conversation_id is not None and conversation is None:
            raise ConversationDeleted(record.conversation_id)
        if started is None:
            rows = self._new_rows(record.tenant, [*turn.input_items, *turn.output_items])
        else:
            rows = started.rows + self._new_rows(record.tenant, turn.output_items)
        for position, row in enumerate(rows):
            row.response_id, row.position = record.id, position
            row.kind = "input" if position < len(turn.input_items) else "output"
        start = None if conversation is None else conversation.next_position
        if conversation is not None and conversation.turn_owner == record.id:
            conversation.turn_owner = None
        if conversation is not None and turn.append_to_conversation:
            active_at = record.created_at if record.completed_at is None else record.completed_at
            self._place(conversation, rows, active_at)
        self._responses[record.id] = MemoryResponse(record, start, rows)
        self._response_changed(record)
        if turn.background:
            self._jobs.pop(record.id, None)
            self._write_outbox(record.tenant, record.id, record.status)

    async def get_response(self, tenant: str, response_id: str) -> StoredResponse | None:
        if (response := self._response(tenant, response_id)) is None:
            return None
        output = [row.item() for row in response.rows if row.kind == "output"]
        return StoredResponse(record=copy_response(response.record), output=output)

    async def scan_responses(
        self,
        tenant: str,
        *,
        after: str | None,
        limit: int,
        created_before: float | None = None,
    ) -> list[ResponseRecord]:
        ids = sorted(
            i
            for i, r in self._responses.items()
            if r.record.tenant == tenant
            and (after is None or i > after)
            and (created_before is None or r.record.created_at < created_before)
        )
        return [copy_response(self._responses[i].record) for i in ids[:limit]]

    async def delete_response(self, tenant: str, response_id: str) -> bool:
        if (response := self._response(tenant, response_id)) is None:
            return False
        self._release(response)
        return True

    async def list_input_items(
        self, tenant: str, response_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage | None:
        if (response := self._response(tenant, response_id)) is None:
            return None
        inputs = [row for row in response.rows if row.kind == "input"]
        return page(inputs, POSITION, after, limit, order)

    async def load_chain(self, tenant: str, response_id: str) -> list[Item] | None:
        chain: list[MemoryResponse] = []
        current = self._response(tenant, response_id)
        if current is not None and current.record.status in ("in_progress", "queued"):
            raise PreviousResponseInProgress(response_id)
        while current is not None:
            chain.append(current)
            previous = current.record.previous_response_id
            current = None if previous is None else self._response(tenant, previous)
        if not chain:
            return None
        oldest = chain[-1]
        context: list[Item] = []
        conversation = self._conversation(tenant, oldest.record.conversation_id)
        if conversation is not None and oldest.conversation_position is not None:
            end = oldest.conversation_position
            context += [row.item() for row in conversation.rows if CONVERSATION_POSITION(row) < end]
        for response in reversed(chain):
            context += [row.item() for row in response.rows]
        return context

    async def get_items(self, tenant: str, item_ids: list[str]) -> dict[str, Item]:
        wanted = set(item_ids)
        found: dict[str, Item] = {}
        for row in self._rows.values():
            # An id sent back by a client can be stored twice; the first write is the original.
            if row.tenant == tenant and row.item_id in wanted and row.item_id not in found:
                found[row.item_id] = row.item()
        return found

    # -- conversations ------------------------------------------------------------------------
    async def create_conversation(
        self, conversation: ConversationRecord, items: list[Item]
    ) -> None:
        if conversation.id in self._conversations:
            raise Conflict(f"A conversation with id '{conversation.id}' already exists")
        rows = self._new_rows(conversation.tenant, items)
        stored = _Conversation(_copy_conversation(conversation), rows=[], next_position=0)
        self._place(stored, rows, active_at=None)
        self._conversations[conversation.id] = stored
        self._conversation_changed(stored.record)

    async def get_conversation(
        self, tenant: str, conversation_id: str
    ) -> ConversationRecord | None:
        conversation = self._conversation(tenant, conversation_id)
        return None if conversation is None else _copy_conversation(conversation.record)

    async def update_conversation(
        self,
        tenant: str,
        conversation_id: str,
        *,
        metadata: dict[str, str] | None = None,
        status: ConversationStatus | None = None,
        status_changed_at: float | None = None,
    ) -> ConversationRecord | None:
        if (conversation := self._conversation(tenant, conversation_id)) is None:
            return None
        record = conversation.record
        record.metadata = record.metadata if metadata is None else dict(metadata)
        record.status = status or record.status
        if status_changed_at is not None:
            record.status_changed_at = status_changed_at
        self._conversation_changed(record)
        return _copy_conversation(record)

    async def delete_conversation(self, tenant: str, conversation_id: str) -> bool:
        if (conversation := self._conversation(tenant, conversation_id)) is None:
            return False
        for response in list(self._responses.values()):
            if (
                response.record.conversation_id == conversation_id
                and response.record.tenant == tenant
            ):
                self._release(response)
        for row in conversation.rows:
            del self._rows[row.seq]
            self._item_left(tenant, row.conversation_id, row.conversation_position)
        del self._conversations[conversation_id]
        self._changed("conversation", conversation_id, tenant, deleted=True)
        return True

    async def list_conversations(
        self, tenant: str, flt: ConversationFilter, *, after: str | None, limit: int
    ) -> ConversationPage:
        def matches(c: ConversationRecord) -> bool:
            bounds = (
                (c.created_at, flt.created_after, flt.created_before),
                (c.last_active_at, flt.active_after, flt.active_before),
            )
            return (
                c.tenant == tenant
                and (flt.status is None or c.status == flt.status)
                and all(c.metadata.get(key) == value for key, value in flt.metadata.items())
                and all((lo is None or v > lo) and (hi is None or v < hi) for v, lo, hi in bounds)
            )

        records = [c.record for c in self._conversations.values() if matches(c.record)]
        records.sort(key=lambda c: (c.last_active_at, c.id), reverse=True)
        if after is not None:
            anchor = self._conversation(tenant, after)
            if anchor is None:
                raise InvalidRequest(
                    f"No conversation with id '{after}' in this list", param="after"
                )
            cursor = (anchor.record.last_active_at, anchor.record.id)
            records = [c for c in records if (c.last_active_at, c.id) < cursor]
        return ConversationPage(
            conversations=[_copy_conversation(c) for c in records[:limit]],
            has_more=len(records) > limit,
        )

    async def append_items(
        self, tenant: str, conversation_id: str, items: list[Item], now: float
    ) -> bool:
        if (conversation := self._conversation(tenant, conversation_id)) is None:
            return False
        rows = self._new_rows(tenant, items)
        self._place(conversation, rows, active_at=now)
        return True

    async def load_conversation(
        self, tenant: str, conversation_id: str
    ) -> tuple[ConversationRecord, list[Item]] | None:
        if (conversation := self._conversation(tenant, conversation_id)) is None:
            return None
        items = [row.item() for row in conversation.rows]
        return _copy_conversation(conversation.record), items

    async def claim_conversation(
        self, tenant: str, conversation_id: str, owner: str, *, now: float, lease_until: float
    ) -> ConversationClaim:
        if (conversation := self._conversation(tenant, conversation_id)) is None:
            return "missing"
        if conversation.turn_owner not in (None, owner) and conversation.turn_lease_until >= now:
            return "locked"
        conversation.turn_owner, conversation.turn_lease_until = owner, lease_until
        return "claimed"

    async def renew_conversation_claim(
        self, tenant: str, conversation_id: str, owner: str, lease_until: float
    ) -> bool:
        conversation = self._conversation(tenant, conversation_id)
        if conversation is None or conversation.turn_owner != owner:
            return False
        conversation.turn_lease_until = lease_until
        return True

    async def release_conversation(self, tenant: str, conversation_id: str, owner: str) -> None:
        conversation = self._conversation(tenant, conversation_id)
        if conversation is not None and conversation.turn_owner == owner:
            conversation.turn_owner = None

    async def list_conversation_items(
        self, tenant: str, conversation_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage | None:
        if (conversation := self._conversation(tenant, conversation_id)) is None:
            return None
        return page(conversation.rows, CONVERSATION_POSITION, after, limit, order)

    async def get_conversation_item(
        self, tenant: str, conversation_id: str, item_id: str
    ) -> Item | None:
        if (conversation := self._conversation(tenant, conversation_id)) is None:
            return None
        return next((row.item() for row in conversation.rows if row.item_id == item_id), None)

    async def delete_conversation_item(
        self, tenant: str, conversation_id: str, item_id: str
    ) -> bool:
        if (conversation := self._conversation(tenant, conversation_id)) is None:
            return False
        leaving = [row for row in conversation.rows if row.item_id == item_id]
        conversation.rows = [row for row in conversation.rows if row.item_id != item_id]
        for row in leaving:
            self._item_left(tenant, row.conversation_id, row.conversation_position)
            # An item a turn owns stays in its response's record (as in the SQL store).
            row.conversation_id = row.conversation_position = None
            if row.response_id is None:
                del self._rows[row.seq]
        return bool(leaving)

    # -- retention ----------------------------------------------------------------------------
    async def expire_idle_conversations(self, idle_before: float, now: float) -> int:
        records = [c.record for c in self._conversations.values()]
        idle = [r for r in records if r.status == "active" and r.last_active_at < idle_before]
        for record in idle:
            record.status, record.status_changed_at = "expired", now
            self._conversation_changed(record)
        return len(idle)

    async def delete_responses_created_before(
        self, cutoff: float, scope: TenantScope = EVERY_TENANT
    ) -> int:
        old = [
            r
            for r in self._responses.values()
            if r.record.created_at < cutoff and scope.includes(r.record.tenant)
        ]
        for response in old:
            self._release(response)
        return len(old)

    # -- API keys (the rest in memory_keys.py) ---------------------------------------------
    async def tenant_has_data(self, tenant: str) -> bool:
        return (
            any(r.record.tenant == tenant for r in self._responses.values())
            or any(c.record.tenant == tenant for c in self._conversations.values())
            or self._has_completions(tenant)
        )

    # -- internals ----------------------------------------------------------------------------
    def _response(self, tenant: str, response_id: str) -> MemoryResponse | None:
        response = self._responses.get(response_id)
        return response if response is not None and response.record.tenant == tenant else None

    def _conversation(self, tenant: str, conversation_id: str | None) -> _Conversation | None:
        if conversation_id is None:
            return None
        conversation = self._conversations.get(conversation_id)
        if conversation is None or conversation.record.tenant != tenant:
            return None
        return conversation

    def _new_rows(self, tenant: str, items: Iterable[Item]) -> list[Row]:
        """Keep a row per item; every item is serialized before any row is kept, so a bad one
        fails the write before it changes anything."""
        rows = [Row(next(self._seq), tenant, item["id"], orjson.dumps(item)) for item in items]
        self._rows.update((row.seq, row) for row in rows)
        return rows

    def _place(self, conversation: _Conversation, rows: list[Row], active_at: float | None) -> None:
        record = conversation.record
        for row in rows:
            row.conversation_id = record.id
            row.conversation_position = conversation.next_position
            conversation.next_position += 1
            self._item_changed(record.tenant, record.id, row.conversation_position, row.item)
        conversation.rows += rows
        if active_at is not None:
            record.last_active_at = max(record.last_active_at, active_at)
            self._conversation_changed(record)

    def _release(self, response: MemoryResponse) -> None:
        """Delete the response and the items it owns outside any conversation."""
        for row in response.rows:
            if row.conversation_id is None:
                del self._rows[row.seq]
            else:
                row.response_id = row.kind = row.position = None
        del self._responses[response.record.id]
        self._changed("response", response.record.id, response.record.tenant, deleted=True)
        self._jobs.pop(response.record.id, None)
        self._events.pop(response.record.id, None)
