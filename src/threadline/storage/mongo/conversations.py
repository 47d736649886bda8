"""The conversation half of MongoStore, kept apart so each module reads in one sitting.

A conversation document carries `next_position`, the counter that hands out item positions;
items are never renumbered, so a deleted item leaves a gap and a page cursor stays valid.
"""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from threadline.errors import Conflict, InvalidRequest
from threadline.storage.base import (
    ConversationClaim,
    ConversationFilter,
    ConversationPage,
    ConversationRecord,
    ConversationStatus,
    Item,
    ItemPage,
    Order,
)
from threadline.storage.mongo import pipelines
from threadline.storage.mongo.changes import ChangeMethods, entry, item_entries
from threadline.storage.mongo.connection import Session
from threadline.storage.mongo.documents import (
    CONVERSATION_FIELDS,
    Document,
    conversation_document,
    conversation_record,
    item_data,
    item_document,
    metadata_pairs,
    serialized_items,
)
from threadline.storage.mongo.items import claim_positions, item_page, place_in_conversation

_RECORD_PROJECTION = dict.fromkeys(CONVERSATION_FIELDS, 1)


def conversation_query(tenant: str, flt: ConversationFilter) -> Document:
    clauses: list[Document] = [{"tenant": tenant}]
    clauses += [
        {"metadata": {"$elemMatch": {"k": key, "v": value}}} for key, value in flt.metadata.items()
    ]
    if flt.status is not None:
        clauses.append({"status": flt.status})
    for field, low, high in (
        ("created_at", flt.created_after, flt.created_before),
        ("last_active_at", flt.active_after, flt.active_before),
    ):
        if low is not None:
            clauses.append({field: {"$gt": low}})
        if high is not None:
            clauses.append({field: {"$lt": high}})
    return {"$and": clauses}


# Conversations expired per transaction (see store.py's SWEEP_BATCH).
_EXPIRE_BATCH = 500


class ConversationMethods(ChangeMethods):
    """Conversations and their items; MongoStore adds responses and API keys."""

    async def create_conversation(
        self, conversation: ConversationRecord, items: list[Item]
    ) -> None:
        c = conversation
        document = conversation_document(c, next_position=len(items))
        serialized = serialized_items(items, self._codec)

        async def work(session: Session) -> None:
            try:
                await self._conversations.insert_one(dict(document), session=session)
            except DuplicateKeyError as exc:
                raise Conflict(f"A conversation with id '{c.id}' already exists") from exc
            if serialized:
                rows = [
                    item_document(
                        c.tenant,
                        c.created_at,
                        item,
                        conversation_id=c.id,
                        conversation_position=position,
                    )
                    for position, item in enumerate(serialized)
                ]
                await self._items.insert_many(rows, session=session)
            changed = [entry("conversation", c.id, c.tenant)]
            changed += item_entries(c.tenant, c.id, range(len(serialized)))
            await self.enter_changes(session, changed)

        await self.transaction(work)

    async def get_conversation(
        self, tenant: str, conversation_id: str
    ) -> ConversationRecord | None:
        found = await self._conversations.find_one(
            {"_id": conversation_id, "tenant": tenant}, projection=_RECORD_PROJECTION
        )
        return None if found is None else conversation_record(found)

    async def update_conversation(
        self,
        tenant: str,
        conversation_id: str,
        *,
        metadata: dict[str, str] | None = None,
        status: ConversationStatus | None = None,
        status_changed_at: float | None = None,
    ) -> ConversationRecord | None:
        changes: dict[str, Any] = {}
        if metadata is not None:
            changes["metadata"] = metadata_pairs(metadata)
        if status is not None:
            changes["status"] = status
        if status_changed_at is not None:
            changes["status_changed_at"] = status_changed_at
        if not changes:
            return await self.get_conversation(tenant, conversation_id)

        async def work(session: Session) -> Document | None:
            updated = await self._conversations.find_one_and_update(
                {"_id": conversation_id, "tenant": tenant},
                {"$set": changes},
                projection=_RECORD_PROJECTION,
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            if updated is not None:
                await self.enter_changes(session, [entry("conversation", conversation_id, tenant)])
            return updated

        updated = await self.transaction(work)
        return None if updated is None else conversation_record(updated)

    async def delete_conversation(self, tenant: str, conversation_id: str) -> bool:
        async def work(session: Session) -> bool:
            # The conversation goes first: a turn appending concurrently writes the same
            # document, so one of the two transactions conflicts and runs again after the other.
            deleted = await self._conversations.delete_one(
                {"_id": conversation_id, "tenant": tenant}, session=session
            )
            if deleted.deleted_count == 0:
                return False
            turns = {"conversation_id": conversation_id, "tenant": tenant}
            found = self._responses.find(turns, projection={"_id": 1}, session=session)
            turn_ids = [turn["_id"] for turn in await found.to_list()]
            placed = await self._items.find(
                {"conversation_id": conversation_id},
                projection={"_id": 0, "conversation_position": 1},
                session=session,
            ).to_list()
            positions = [d["conversation_position"] for d in placed]
            changed = [entry("conversation", conversation_id, tenant, deleted=True)]
            changed += [entry("response", turn, tenant, deleted=True) for turn in turn_ids]
            changed += item_entries(tenant, conversation_id, positions, deleted=True)
            await self.enter_changes(session, changed)
            await self._items.delete_many({"conversation_id": conversation_id}, session=session)
            await self._items.delete_many({"response_id": {"$in": turn_ids}}, session=session)
            await self._jobs.delete_many({"_id": {"$in": turn_ids}}, session=session)
            await self._events.delete_many({"response_id": {"$in": turn_ids}}, session=session)
            await self._responses.delete_many(turns, session=session)
            return True

        return await self.transaction(work)

    async def list_conversations(
        self, tenant: str, flt: ConversationFilter, *, after: str | None, limit: int
    ) -> ConversationPage:
        query = conversation_query(tenant, flt)
        if after is not None:
            anchor = await self._conversations.find_one(
                {"_id": after, "tenant": tenant}, projection={"last_active_at": 1}
            )
            if anchor is None:
                raise InvalidRequest(
                    f"No conversation with id '{after}' in this list", param="after"
                )
            at = anchor["last_active_at"]
            query["$and"].append(
                {
                    "$or": [
                        {"last_active_at": {"$lt": at}},
                        {"last_active_at": at, "_id": {"$lt": after}},
                    ]
                }
            )
        cursor = self._conversations.find(
            query,
            projection=_RECORD_PROJECTION,
            sort=[("last_active_at", -1), ("_id", -1)],
        )
        found = await cursor.limit(limit + 1).to_list()
        return ConversationPage(
            conversations=[conversation_record(d) for d in found[:limit]],
            has_more=len(found) > limit,
        )

    async def append_items(
        self, tenant: str, conversation_id: str, items: list[Item], now: float
    ) -> bool:
        serialized = serialized_items(items, self._codec)

        async def work(session: Session) -> bool:
            start = await claim_positions(
                self._conversations, session, tenant, conversation_id, len(serialized), now
            )
            if start is None:
                return False
            rows = [item_document(tenant, now, item) for item in serialized]
            place_in_conversation(rows, conversation_id, start)
            if rows:
                await self._items.insert_many(rows, session=session)
            changed = [entry("conversation", conversation_id, tenant)]
            changed += item_entries(tenant, conversation_id, range(start, start + len(rows)))
            await self.enter_changes(session, changed)
            return True

        return await self.transaction(work)

    async def claim_conversation(
        self, tenant: str, conversation_id: str, owner: str, *, now: float, lease_until: float
    ) -> ConversationClaim:
        claimed = await self._conversations.update_one(
            {
                "_id": conversation_id,
                "tenant": tenant,
                "$or": [
                    {"turn_owner": None},
                    {"turn_owner": owner},
                    {"turn_lease_until": {"$lt": now}},
                ],
            },
            {"$set": {"turn_owner": owner, "turn_lease_until": lease_until}},
        )
        if claimed.matched_count == 1:
            return "claimed"
        found = await self._conversations.find_one(
            {"_id": conversation_id, "tenant": tenant}, projection={"_id": 1}
        )
        return "missing" if found is None else "locked"

    async def renew_conversation_claim(
        self, tenant: str, conversation_id: str, owner: str, lease_until: float
    ) -> bool:
        renewed = await self._conversations.update_one(
            {"_id": conversation_id, "tenant": tenant, "turn_owner": owner},
            {"$set": {"turn_lease_until": lease_until}},
        )
        return bool(renewed.matched_count == 1)

    async def release_conversation(self, tenant: str, conversation_id: str, owner: str) -> None:
        await self._conversations.update_one(
            {"_id": conversation_id, "tenant": tenant, "turn_owner": owner},
            {"$set": {"turn_owner": None}},
        )

    async def load_conversation(
        self, tenant: str, conversation_id: str
    ) -> tuple[ConversationRecord, list[Item]] | None:
        pipeline = pipelines.conversation_with_items(tenant, conversation_id)
        documents = await self.aggregate(self._conversations, pipeline)
        if not documents:
            return None
        items = pipelines.items_in_order(documents, "conversation_position", self._codec)
        return conversation_record(documents[0]), items

    async def list_conversation_items(
        self, tenant: str, conversation_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage | None:
        if await self.get_conversation(tenant, conversation_id) is None:
            return None
        members = {"conversation_id": conversation_id}
        return await item_page(
            self._items,
            self._codec,
            members,
            "conversation_position",
            after=after,
            limit=limit,
            order=order,
        )

    async def get_conversation_item(
        self, tenant: str, conversation_id: str, item_id: str
    ) -> Item | None:
        found = await self._items.find_one(
            {"conversation_id": conversation_id, "tenant": tenant, "item_id": item_id},
            projection={"_id": 0, "data": 1},
            sort=[("conversation_position", 1)],
        )
        return None if found is None else item_data(found, self._codec)

    async def delete_conversation_item(
        self, tenant: str, conversation_id: str, item_id: str
    ) -> bool:
        where = {"conversation_id": conversation_id, "tenant": tenant, "item_id": item_id}

        async def work(session: Session) -> bool:
            leaving = await self._items.find(
                where, projection={"_id": 0, "conversation_position": 1}, session=session
            ).to_list()
            positions = [d["conversation_position"] for d in leaving]
            changed = item_entries(tenant, conversation_id, positions, deleted=True)
            await self.enter_changes(session, changed)
            # An item a turn owns leaves the conversation but stays in its response's record,
            # as deleting a response keeps its conversation items.
            deleted = await self._items.delete_many(
                {**where, "response_id": {"$exists": False}}, session=session
            )
            detached = await self._items.update_many(
                where,
                {"$unset": {"conversation_id": "", "conversation_position": ""}},
                session=session,
            )
            return deleted.deleted_count + detached.modified_count > 0

        return await self.transaction(work)

    async def expire_idle_conversations(self, idle_before: float, now: float) -> int:
        idle = {"status": "active", "last_active_at": {"$lt": idle_before}}

        async def expire_batch(session: Session) -> int:
            found = (
                await self._conversations.find(
                    idle, projection={"_id": 1, "tenant": 1}, session=session
                )
                .limit(_EXPIRE_BATCH)
                .to_list()
            )
            if not found:
                return 0
            await self._conversations.update_many(
                {**idle, "_id": {"$in": [d["_id"] for d in found]}},
                {"$set": {"status": "expired", "status_changed_at": now}},
                session=session,
            )
            changed = [entry("conversation", d["_id"], d["tenant"]) for d in found]
            await self.enter_changes(session, changed)
            return len(found)

        total = 0
        while expired := await self.transaction(expire_batch):
            total += expired
        return total
