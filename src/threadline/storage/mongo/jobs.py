"""The background-job half of the MongoDB store.

A job is a document of `background_jobs` (`_id` is its response id; `seq`, an ObjectId,
orders the queue). Taking one is a transaction that sets its `owner` only where it has none
(`find_one_and_update`) and marks its response `in_progress`: two processes taking at once
conflict on the document, and one of them moves on to the next job, so each job runs once.
The events of a streamed background turn are documents of `response_events`.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from threadline.errors import Conflict
from threadline.storage.base import CancelOutcome, Item, Job, QueuedTurn
from threadline.storage.encoding import dumps
from threadline.storage.mongo.changes import ChangeMethods, entry
from threadline.storage.mongo.connection import Session
from threadline.storage.mongo.documents import (
    Document,
    item_data,
    owned_documents,
    response_document,
    response_record,
    serialized_items,
)
from threadline.storage.mongo.webhooks import WebhookMethods

_QUEUE_ORDER = [("seq", 1)]


class JobMethods(WebhookMethods, ChangeMethods):
    async def enqueue_turn(self, turn: QueuedTurn) -> None:
        record = turn.response
        response = response_document(record, None, self._codec)
        serialized = serialized_items(turn.input_items, self._codec)
        job = {
            "_id": record.id,
            "tenant": record.tenant,
            "conversation_id": record.conversation_id,
            # ObjectIds grow within a process (and with time across processes).
            "seq": ObjectId(),
            "request": self._codec.dump(turn.request),
            "owner": None,
            "side_effect": False,
            "cancel_requested": False,
        }

        async def work(session: Session) -> None:
            try:
                await self._responses.insert_one(response, session=session)
            except DuplicateKeyError as exc:
                raise Conflict(f"A response with id '{record.id}' already exists") from exc
            rows = owned_documents(record, serialized, inputs=len(serialized))
            if rows:
                await self._items.insert_many(rows, session=session)
            await self._jobs.insert_one(job, session=session)
            await self.enter_changes(session, [entry("response", record.id, record.tenant)])

        await self.transaction(work)

    async def count_queued_jobs(self, tenant: str | None = None) -> int:
        waiting: Document = {"owner": None}
        if tenant is not None:
            waiting["tenant"] = tenant
        return int(await self._jobs.count_documents(waiting))

    async def take_jobs(
        self, owner: str, *, now: float, lease_until: float, limit: int
    ) -> list[Job]:
        waiting = self._jobs.find({"owner": None}, sort=_QUEUE_ORDER)
        taken: list[Job] = []
        for candidate in await waiting.limit(limit * 4 + 16).to_list():
            if len(taken) == limit:
                break
            if await self._behind_earlier_job(candidate):
                continue
            job = await self.transaction(self._take(candidate["_id"], owner, lease_until))
            if job is not None:
                taken.append(job)
        return taken

    async def _behind_earlier_job(self, job: Document) -> bool:
        conversation_id = job.get("conversation_id")
        if conversation_id is None:
            return False
        earlier = {"conversation_id": conversation_id, "seq": {"$lt": job["seq"]}}
        return await self._jobs.count_documents(earlier) > 0

    def _take(self, response_id: str, owner: str, lease_until: float) -> Any:
        async def work(session: Session) -> Job | None:
            job = await self._jobs.find_one_and_update(
                {"_id": response_id, "owner": None}, {"$set": {"owner": owner}}, session=session
            )
            if job is None:
                return None  # another process took it first
            await self._responses.update_one(
                {"_id": response_id},
                {"$set": {"status": "in_progress", "owner": owner, "lease_until": lease_until}},
                session=session,
            )
            response = await self._responses.find_one({"_id": response_id}, session=session)
            if response is None:
                return None
            await self.enter_changes(session, [entry("response", response_id, response["tenant"])])
            inputs = self._items.find(
                {"response_id": response_id, "kind": "input"},
                sort=[("position", 1)],
                session=session,
            )
            return Job(
                response_record(response, self._codec),
                self._codec.load(job["request"]),
                [item_data(found, self._codec) for found in await inputs.to_list()],
            )

        return work

    async def requeue_job(self, response_id: str, error: dict[str, Any]) -> bool:
        return await self._requeue([response_id], error) == 1

    async def requeue_abandoned_jobs(self, now: float, error: dict[str, Any]) -> int:
        taken = await self._jobs.find({"owner": {"$ne": None}}, {"_id": 1}).to_list()
        lapsed = await self._responses.find(
            {
                "_id": {"$in": [job["_id"] for job in taken]},
                "status": "in_progress",
                "lease_until": {"$lt": now},
            },
            {"_id": 1},
        ).to_list()
        return await self._requeue([found["_id"] for found in lapsed], error)

    async def _requeue(self, response_ids: list[str], error: dict[str, Any]) -> int:
        again = 0
        for response_id in response_ids:

            async def work(session: Session, response_id: str = response_id) -> bool:
                job = await self._jobs.find_one(
                    {"_id": response_id, "owner": {"$ne": None}}, session=session
                )
                if job is None:
                    return False
                await self._events.delete_many({"response_id": response_id}, session=session)
                if job["side_effect"]:
                    await self._jobs.delete_one({"_id": response_id}, session=session)
                    await self.write_outbox(session, job["tenant"], response_id, "failed")
                    changes = {"status": "failed", "error": dumps(error)}
                else:
                    await self._jobs.update_one(
                        {"_id": response_id}, {"$set": {"owner": None}}, session=session
                    )
                    changes = {"status": "queued"}
                await self._responses.update_one(
                    {"_id": response_id},
                    {"$set": {**changes, "owner": None, "lease_until": None}},
                    session=session,
                )
                await self.enter_changes(session, [entry("response", response_id, job["tenant"])])
                return not job["side_effect"]

            again += await self.transaction(work)
        return again

    async def note_job_side_effect(self, response_id: str) -> None:
        await self._jobs.update_one({"_id": response_id}, {"$set": {"side_effect": True}})

    async def cancel_job(self, tenant: str, response_id: str) -> CancelOutcome:
        async def work(session: Session) -> CancelOutcome:
            response = await self._responses.find_one(
                {"_id": response_id, "tenant": tenant}, {"settings": 1}, session=session
            )
            if response is None:
                return "missing"
            job = await self._jobs.find_one({"_id": response_id}, session=session)
            if job is None:
                background = self._codec.load(response["settings"]).get("background")
                return "ended" if background else "not_background"
            if job["owner"] is not None:
                await self._jobs.update_one(
                    {"_id": response_id}, {"$set": {"cancel_requested": True}}, session=session
                )
                return "requested"
            await self._jobs.delete_one({"_id": response_id}, session=session)
            await self._responses.update_one(
                {"_id": response_id}, {"$set": {"status": "cancelled"}}, session=session
            )
            await self.enter_changes(session, [entry("response", response_id, tenant)])
            await self.write_outbox(session, tenant, response_id, "cancelled")
            return "cancelled"

        return await self.transaction(work)

    async def cancel_requested_jobs(self, owner: str) -> list[str]:
        asked = self._jobs.find({"owner": owner, "cancel_requested": True}, {"_id": 1})
        return [job["_id"] for job in await asked.to_list()]

    async def append_response_events(self, response_id: str, events: list[Item]) -> None:
        documents = [
            {
                "response_id": response_id,
                "sequence_number": event["sequence_number"],
                "data": self._codec.dump(event),
            }
            for event in events
        ]
        if documents:
            await self._events.insert_many(documents)

    async def response_events(
        self, tenant: str, response_id: str, *, after: int, limit: int
    ) -> list[Item] | None:
        found = await self._responses.find_one({"_id": response_id, "tenant": tenant}, {"_id": 1})
        if found is None:
            return None
        kept = self._events.find(
            {"response_id": response_id, "sequence_number": {"$gt": after}},
            sort=[("sequence_number", 1)],
        )
        events = await kept.limit(limit).to_list()
        return [self._codec.load(document["data"]) for document in events]

    async def forget_jobs(self, session: Session, response_ids: list[str]) -> None:
        """Delete the jobs and kept events of responses about to be deleted."""
        await self._jobs.delete_many({"_id": {"$in": response_ids}}, session=session)
        await self._events.delete_many({"response_id": {"$in": response_ids}}, session=session)
