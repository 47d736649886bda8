"""MongoStore: the storage contract on MongoDB, through pymongo's asyncio API.

Four collections mirror the SQL tables: `responses` (provenance, `_id` is the response id),
`items` (one document per item, written once, owned by a response and/or placed in a
conversation), `conversations` (with the `next_position` counter) and `api_keys`.

Writes that touch several documents run in one multi-document transaction, which needs a
replica set (schema.py refuses a standalone server). Positions in a conversation are claimed
with `find_one_and_update($inc)` on its document inside the transaction; concurrent claims
conflict and are retried by the driver, so every turn's items stay contiguous and no lock lives
in this process. `load_chain`, `load_conversation` and `get_response` are each one aggregation.
"""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from threadline.errors import (
    Conflict,
    ConversationDeleted,
    PreviousResponseInProgress,
    ResponseDeleted,
)
from threadline.storage.base import (
    EVERY_TENANT,
    ApiKeyRecord,
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
from threadline.storage.encoding import dumps
from threadline.storage.mongo import pipelines
from threadline.storage.mongo.audit import AuditMethods
from threadline.storage.mongo.changes import entry, item_entries
from threadline.storage.mongo.completions import CompletionMethods
from threadline.storage.mongo.connection import Session
from threadline.storage.mongo.conversations import ConversationMethods
from threadline.storage.mongo.documents import (
    Document,
    api_key_document,
    api_key_record,
    item_data,
    limits_document,
    owned_documents,
    response_document,
    response_record,
    serialized_items,
    tenants_in,
)
from threadline.storage.mongo.holds import HoldMethods
from threadline.storage.mongo.item_search import ItemSearchMethods
from threadline.storage.mongo.items import (
    claim_positions,
    item_page,
    place_in_conversation,
    release_items,
)
from threadline.storage.mongo.jobs import JobMethods
from threadline.storage.mongo.resealing import ResealingMethods
from threadline.storage.mongo.response_listing import ResponseListingMethods
from threadline.storage.mongo.schema import CHAT_COMPLETIONS, upgrade
from threadline.storage.mongo.usage import UsageMethods
from threadline.storage.mongo.vectors import VectorMethods
from threadline.storage.usage import KeyLimits

# Responses deleted per retention transaction: MongoDB aborts transactions that run longer
# than a minute, and a small one keeps conflicts with concurrent turns short.
SWEEP_BATCH = 500
_UNFINISHED = ("in_progress", "queued")


class MongoStore(
    VectorMethods,
    UsageMethods,
    AuditMethods,
    HoldMethods,
    ItemSearchMethods,
    ResponseListingMethods,
    CompletionMethods,
    JobMethods,
    ConversationMethods,
    ResealingMethods,
    Store,
):
    # -- lifecycle ----------------------------------------------------------------------------
    async def migrate(self) -> None:
        await upgrade(self._db)

    async def close(self) -> None:
        if self._owns_client:
            await self._client.close()

    async def ping(self) -> None:
        await self._db.command("ping")

    # -- responses ----------------------------------------------------------------------------
    async def start_turn(self, start: TurnStart) -> None:
        record = start.response
        response = response_document(record, None, self._codec)
        response.update(owner=start.owner, lease_until=start.lease_until)
        serialized = serialized_items(start.input_items, self._codec)
        conversation_id = record.conversation_id

        async def work(session: Session) -> None:
            if conversation_id is not None:
                found = await self._conversations.find_one(
                    {"_id": conversation_id, "tenant": record.tenant},
                    projection={"next_position": 1},
                    session=session,
                )
                if found is None:
                    raise ConversationDeleted(conversation_id)
                response["conversation_position"] = int(found["next_position"])
            await self._insert_response(response, session)
            rows = owned_documents(record, serialized, inputs=len(serialized))
            if rows:
                await self._items.insert_many(rows, session=session)
            await self.enter_changes(session, [entry("response", record.id, record.tenant)])

        await self.transaction(work)

    async def renew_turns(self, owner: str, lease_until: float) -> int:
        renewed = await self._responses.update_many(
            {"status": "in_progress", "owner": owner}, {"$set": {"lease_until": lease_until}}
        )
        return int(renewed.matched_count)

    async def fail_abandoned_turns(self, now: float, error: dict[str, Any]) -> int:
        # A background job's turn is queued again instead (requeue_abandoned_jobs).
        jobs = await self._jobs.find({"owner": {"$ne": None}}, {"_id": 1}).to_list()
        lapsed = {"status": "in_progress", "lease_until": {"$lt": now}}

        async def work(session: Session) -> int:
            found = await self._responses.find(
                {**lapsed, "_id": {"$nin": [job["_id"] for job in jobs]}},
                projection={"_id": 1, "tenant": 1},
                session=session,
            ).to_list()
            if not found:
                return 0
            ended = await self._responses.update_many(
                {**lapsed, "_id": {"$in": [d["_id"] for d in found]}},
                {"$set": {"status": "failed", "error": dumps(error), "owner": None}},
                session=session,
            )
            changed = [entry("response", d["_id"], d["tenant"]) for d in found]
            await self.enter_changes(session, changed)
            return int(ended.modified_count)

        return await self.transaction(work)

    async def save_turn(self, turn: TurnRecord) -> None:
        if turn.started:
            await self._finish_turn(turn)
            return
        record = turn.response
        # Serialized before the transaction opens: an item JSON cannot hold fails the save
        # before anything is written.
        response = response_document(record, None, self._codec)
        serialized = serialized_items([*turn.input_items, *turn.output_items], self._codec)
        inputs = len(turn.input_items)
        conversation_id = record.conversation_id
        active_at = record.completed_at if record.completed_at is not None else record.created_at

        async def work(session: Session) -> None:
            start: int | None = None
            claimed: int | None = None
            if conversation_id is not None and turn.append_to_conversation:
                start = claimed = await claim_positions(
                    self._conversations,
                    session,
                    record.tenant,
                    conversation_id,
                    len(serialized),
                    active_at,
                )
            elif conversation_id is not None:
                # Not appended (a failed turn): note where the conversation stood, so that
                # continuing this response still starts from the conversation before it.
                found = await self._conversations.find_one(
                    {"_id": conversation_id, "tenant": record.tenant},
                    projection={"next_position": 1},
                    session=session,
                )
                start = None if found is None else int(found["next_position"])
            if conversation_id is not None:
                if start is None:
                    raise ConversationDeleted(conversation_id)
                await self._conversations.update_one(
                    {"_id": conversation_id, "tenant": record.tenant, "turn_owner": record.id},
                    {"$set": {"turn_owner": None}},
                    session=session,
                )
            await self._insert_response({**response, "conversation_position": start}, session)
            rows = owned_documents(record, serialized, inputs=inputs)
            changed = [entry("response", record.id, record.tenant)]
            if conversation_id is not None and claimed is not None:
                place_in_conversation(rows, conversation_id, claimed)
                placed = range(claimed, claimed + len(rows))
                changed += item_entries(record.tenant, conversation_id, placed)
                changed.append(entry("conversation", conversation_id, record.tenant))
            if rows:
                await self._items.insert_many(rows, session=session)
            await self.enter_changes(session, changed)

        await self.transaction(work)

    async def _finish_turn(self, turn: TurnRecord) -> None:
        record = turn.response
        fields = response_document(record, None, self._codec)
        outputs = serialized_items(turn.output_items, self._codec)
        inputs = len(turn.input_items)
        conversation_id = record.conversation_id
        active_at = record.completed_at if record.completed_at is not None else record.created_at

        async def work(session: Session) -> None:
            start: int | None = None
            if conversation_id is not None:
                if turn.append_to_conversation:
                    start = await claim_positions(
                        self._conversations,
                        session,
                        record.tenant,
                        conversation_id,
                        inputs + len(outputs),
                        active_at,
                    )
                    gone = start is None
                else:
                    gone = not await self._conversations.count_documents(
                        {"_id": conversation_id, "tenant": record.tenant}, session=session
                    )
                if gone:
                    raise ConversationDeleted(conversation_id)
                await self._conversations.update_one(
                    {"_id": conversation_id, "tenant": record.tenant, "turn_owner": record.id},
                    {"$set": {"turn_owner": None}},
                    session=session,
                )
            changes = {
                key: fields[key]
                for key in ("status", "usage", "error", "incomplete_details", "completed_at")
            }
            changes.update(settings=fields["settings"], owner=None, lease_until=None)
            if start is not None:
                changes["conversation_position"] = start
            finished = await self._responses.update_one(
                {"_id": record.id, "tenant": record.tenant}, {"$set": changes}, session=session
            )
            if finished.matched_count == 0:
                raise ResponseDeleted(record.id)
            if turn.background:
                await self._jobs.delete_one({"_id": record.id}, session=session)
                await self.write_outbox(session, record.tenant, record.id, record.status)
            if start is not None:
                for position in range(inputs):
                    await self._items.update_one(
                        {"response_id": record.id, "kind": "input", "position": position},
                        {
                            "$set": {
                                "conversation_id": conversation_id,
                                "conversation_position": start + position,
                            }
                        },
                        session=session,
                    )
            rows = owned_documents(record, outputs, inputs=0, first=inputs)
            changed = [entry("response", record.id, record.tenant)]
            if start is not None and conversation_id is not None:
                place_in_conversation(rows, conversation_id, start + inputs)
                placed = range(start, start + inputs + len(rows))
                changed += item_entries(record.tenant, conversation_id, placed)
                changed.append(entry("conversation", conversation_id, record.tenant))
            if rows:
                await self._items.insert_many(rows, session=session)
            await self.enter_changes(session, changed)

        await self.transaction(work)

    async def _insert_response(self, response: Document, session: Session) -> None:
        try:
            await self._responses.insert_one(response, session=session)
        except DuplicateKeyError as exc:
            raise Conflict(f"A response with id '{response['_id']}' already exists") from exc

    async def get_response(self, tenant: str, response_id: str) -> StoredResponse | None:
        pipeline = pipelines.response_with_output(tenant, response_id)
        documents = await self.aggregate(self._responses, pipeline)
        if not documents:
            return None
        output = pipelines.items_in_order(documents, "position", self._codec)
        return StoredResponse(record=response_record(documents[0], self._codec), output=output)

    async def scan_responses(
        self,
        tenant: str,
        *,
        after: str | None,
        limit: int,
        created_before: float | None = None,
    ) -> list[ResponseRecord]:
        query: Document = {"tenant": tenant}
        if created_before is not None:
            query["created_at"] = {"$lt": created_before}
        if after is not None:
            query["_id"] = {"$gt": after}
        cursor = self._responses.find(query, sort=[("_id", 1)]).limit(limit)
        return [response_record(found, self._codec) for found in await cursor.to_list()]

    async def delete_response(self, tenant: str, response_id: str) -> bool:
        async def work(session: Session) -> bool:
            deleted = await self._responses.delete_one(
                {"_id": response_id, "tenant": tenant}, session=session
            )
            if deleted.deleted_count == 0:
                return False
            await self.forget_jobs(session, [response_id])
            await release_items(self._items, session, {"response_id": response_id})
            await self.enter_changes(
                session, [entry("response", response_id, tenant, deleted=True)]
            )
            return True

        return await self.transaction(work)

    async def list_input_items(
        self, tenant: str, response_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage | None:
        owner = await self._responses.find_one(
            {"_id": response_id, "tenant": tenant}, projection={"_id": 1}
        )
        if owner is None:
            return None
        members = {"response_id": response_id, "kind": "input"}
        return await item_page(
            self._items, self._codec, members, "position", after=after, limit=limit, order=order
        )

    async def load_chain(self, tenant: str, response_id: str) -> list[Item] | None:
        pipeline = pipelines.chain_context(tenant, response_id)
        documents = await self.aggregate(self._responses, pipeline)
        if not documents:
            return None
        if any(d.get("depth") == 0 and d.get("status") in _UNFINISHED for d in documents):
            raise PreviousResponseInProgress(response_id)
        return pipelines.chain_items(documents, self._codec)

    async def get_items(self, tenant: str, item_ids: list[str]) -> dict[str, Item]:
        if not item_ids:
            return {}
        cursor = self._items.find(
            {"tenant": tenant, "item_id": {"$in": list(dict.fromkeys(item_ids))}},
            projection={"_id": 0, "item_id": 1, "data": 1},
            # Oldest write first (ObjectIds grow within a process): an id sent back by a client
            # can be stored twice, and the first write is the original.
            sort=[("created_at", 1), ("_id", 1)],
        )
        found: dict[str, Item] = {}
        for document in await cursor.to_list():
            if document["item_id"] not in found:
                found[document["item_id"]] = item_data(document, self._codec)
        return found

    async def delete_responses_created_before(
        self, cutoff: float, scope: TenantScope = EVERY_TENANT
    ) -> int:
        old = {"created_at": {"$lt": cutoff}, **tenants_in(scope)}

        async def sweep_batch(session: Session) -> tuple[int, int]:
            cursor = self._responses.find(old, projection={"_id": 1, "tenant": 1}, session=session)
            found = await cursor.limit(SWEEP_BATCH).to_list()
            ids = [d["_id"] for d in found]
            if not ids:
                return 0, 0
            await self.forget_jobs(session, ids)
            await release_items(self._items, session, {"response_id": {"$in": ids}})
            deleted = await self._responses.delete_many({"_id": {"$in": ids}}, session=session)
            tombstones = [entry("response", d["_id"], d["tenant"], deleted=True) for d in found]
            await self.enter_changes(session, tombstones)
            return len(ids), deleted.deleted_count

        total = 0
        while True:
            selected, deleted = await self.transaction(sweep_batch)
            if selected == 0:
                return total
            # deleted_count, not len(ids): a sweep on another replica may have taken some.
            total += deleted

    # -- API keys -----------------------------------------------------------------------------
    async def create_api_key(self, key: ApiKeyRecord) -> None:
        try:
            await self._api_keys.insert_one(api_key_document(key))
        except DuplicateKeyError as exc:
            raise Conflict(
                f"API key '{key.name}' clashes with an existing key (same name, id or secret)"
            ) from exc

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        found = await self._api_keys.find_one({"key_hash": key_hash, "revoked_at": None})
        return None if found is None else api_key_record(found)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        cursor = self._api_keys.find({}, sort=[("created_at", 1), ("_id", 1)])
        return [api_key_record(found) for found in await cursor.to_list()]

    async def revoke_api_key(self, key_id_or_name: str, now: float) -> bool:
        result = await self._api_keys.update_many(
            {"$or": [{"_id": key_id_or_name}, {"name": key_id_or_name}], "revoked_at": None},
            {"$set": {"revoked_at": now}, "$unset": {"active_name": ""}},
        )
        return result.modified_count > 0

    async def set_api_key_limits(self, key_id_or_name: str, limits: KeyLimits) -> bool:
        result = await self._api_keys.update_many(
            {"$or": [{"_id": key_id_or_name}, {"name": key_id_or_name}], "revoked_at": None},
            {"$set": {"limits": limits_document(limits)}},
        )
        return result.matched_count > 0

    async def has_api_keys(self) -> bool:
        return await self._api_keys.find_one({}, projection={"_id": 1}) is not None

    async def tenant_has_data(self, tenant: str) -> bool:
        for collection in (self._responses, self._conversations, self._db[CHAT_COMPLETIONS]):
            if await collection.find_one({"tenant": tenant}, projection={"_id": 1}) is not None:
                return True
        return False

    async def forget_revoked_api_keys(self) -> int:
        result = await self._api_keys.delete_many({"revoked_at": {"$ne": None}})
        return result.deleted_count
