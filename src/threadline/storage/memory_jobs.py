"""The background-job part of MemoryStore: the queue, its leases and cancels, and the events a
running job keeps for its streams (see memory.py for why nothing here interleaves)."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterable
from typing import Any

import orjson

from threadline.errors import Conflict
from threadline.storage.base import CancelOutcome, Item, Job, QueuedTurn
from threadline.storage.memory_changes import MemoryChanges
from threadline.storage.memory_rows import MemoryResponse, Row, clone, copy_response
from threadline.storage.memory_webhooks import MemoryWebhooks


@dataclasses.dataclass(slots=True)
class _Job:
    tenant: str
    conversation_id: str | None
    request: bytes
    owner: str | None = None
    side_effect: bool = False
    cancel_requested: bool = False


class MemoryJobs(MemoryWebhooks, MemoryChanges):
    _responses: dict[str, MemoryResponse]

    def __init__(self) -> None:
        self._jobs: dict[str, _Job] = {}
        """By response id, in the order they were queued."""
        self._events: dict[str, list[bytes]] = {}

    @abc.abstractmethod
    def _response(self, tenant: str, response_id: str) -> MemoryResponse | None:
        """The tenant's response, if there is one."""

    @abc.abstractmethod
    def _new_rows(self, tenant: str, items: Iterable[Item]) -> list[Row]:
        """Keep a row per item (all serialized before any is kept)."""

    async def enqueue_turn(self, turn: QueuedTurn) -> None:
        record = copy_response(turn.response)
        if record.id in self._responses:
            raise Conflict(f"A response with id '{record.id}' already exists")
        job = _Job(record.tenant, record.conversation_id, orjson.dumps(turn.request))
        rows = self._new_rows(record.tenant, turn.input_items)
        for position, row in enumerate(rows):
            row.response_id, row.position, row.kind = record.id, position, "input"
        self._responses[record.id] = MemoryResponse(record, None, rows)
        self._jobs[record.id] = job
        self._response_changed(record)

    async def count_queued_jobs(self, tenant: str | None = None) -> int:
        return sum(
            1
            for job in self._jobs.values()
            if job.owner is None and (tenant is None or job.tenant == tenant)
        )

    async def take_jobs(
        self, owner: str, *, now: float, lease_until: float, limit: int
    ) -> list[Job]:
        taken: list[Job] = []
        seen: set[str] = set()
        for response_id, job in self._jobs.items():
            if len(taken) == limit:
                break
            behind = job.conversation_id is not None and job.conversation_id in seen
            if job.conversation_id is not None:
                seen.add(job.conversation_id)
            if job.owner is not None or behind:
                continue
            job.owner = owner
            response = self._responses[response_id]
            response.record.status = "in_progress"
            response.owner, response.lease_until = owner, lease_until
            self._response_changed(response.record)
            inputs = [row.item() for row in response.rows if row.kind == "input"]
            taken.append(Job(copy_response(response.record), orjson.loads(job.request), inputs))
        return taken

    async def requeue_job(self, response_id: str, error: dict[str, Any]) -> bool:
        return self._requeue([response_id], error) == 1

    async def requeue_abandoned_jobs(self, now: float, error: dict[str, Any]) -> int:
        lapsed = [
            response_id
            for response_id, job in self._jobs.items()
            if job.owner is not None and self._responses[response_id].lease_until < now
        ]
        return self._requeue(lapsed, error)

    def _requeue(self, response_ids: list[str], error: dict[str, Any]) -> int:
        again = 0
        for response_id in response_ids:
            job = self._jobs.get(response_id)
            if job is None or job.owner is None:
                continue
            response = self._responses[response_id]
            response.owner = None
            self._events.pop(response_id, None)
            if job.side_effect:
                del self._jobs[response_id]
                response.record.status, response.record.error = "failed", clone(error)
                self._write_outbox(response.record.tenant, response_id, "failed")
            else:
                job.owner = None
                response.record.status = "queued"
                again += 1
            self._response_changed(response.record)
        return again

    async def note_job_side_effect(self, response_id: str) -> None:
        if (job := self._jobs.get(response_id)) is not None:
            job.side_effect = True

    async def cancel_job(self, tenant: str, response_id: str) -> CancelOutcome:
        if (response := self._response(tenant, response_id)) is None:
            return "missing"
        job = self._jobs.get(response_id)
        if job is None:
            return "ended" if response.record.settings.get("background") else "not_background"
        if job.owner is not None:
            job.cancel_requested = True
            return "requested"
        del self._jobs[response_id]
        response.record.status = "cancelled"
        self._response_changed(response.record)
        self._write_outbox(tenant, response_id, "cancelled")
        return "cancelled"

    async def cancel_requested_jobs(self, owner: str) -> list[str]:
        return [i for i, job in self._jobs.items() if job.owner == owner and job.cancel_requested]

    async def append_response_events(self, response_id: str, events: list[Item]) -> None:
        if response_id in self._responses:
            self._events.setdefault(response_id, []).extend(orjson.dumps(e) for e in events)

    async def response_events(
        self, tenant: str, response_id: str, *, after: int, limit: int
    ) -> list[Item] | None:
        if self._response(tenant, response_id) is None:
            return None
        kept = (orjson.loads(data) for data in self._events.get(response_id, ()))
        return [event for event in kept if event["sequence_number"] > after][:limit]
