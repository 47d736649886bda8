"""The audit log: who read in bulk, exported, erased or changed what, and when.

Recorded, each once its act succeeded (and before it is reported done): deletions of
responses, conversations, conversation items, stored chat completions, files, vector stores
and webhook endpoints; conversation and pipeline exports and imports; API keys created,
revoked, limited, and the server opened; end users erased (or the attempt, held); legal holds
placed and released. With `audit_reads` on, also every read of stored content through the API
(`record_read`): a response and its input items, a conversation's items, a stored chat
completion and its messages, a file's bytes, a search. Not recorded: a turn's own reads and
writes (the responses themselves are their record). Actors are API keys by id (never a
secret), `open` for a request to a server without keys, and `operator:<user>` for the command
line.
"""

from __future__ import annotations

import secrets
from typing import Any

from threadline.engine.api_keys import Caller
from threadline.engine.clock import Clock, system_clock
from threadline.storage.audit import AuditEvent, AuditQuery
from threadline.storage.base import Store


def actor_of(caller: Caller) -> str:
    return f"api_key:{caller.key_id}" if caller.key_id else "open"


def new_event_id(at: float) -> str:
    """`audit_` then the time in microseconds (hex) and randomness: ids sort by time."""
    return f"audit_{int(at * 1_000_000):014x}{secrets.token_hex(6)}"


class AuditLog:
    def __init__(self, store: Store, clock: Clock = system_clock, *, reads: bool = False) -> None:
        self._store = store
        self._clock = clock
        self.reads = reads
        """Whether reads of stored content are recorded (`audit_reads`)."""

    async def record(
        self,
        tenant: str | None,
        actor: str,
        action: str,
        object_id: str | None = None,
        **details: Any,
    ) -> None:
        at = self._clock()
        event = AuditEvent(new_event_id(at), at, tenant, actor, action, object_id, details)
        await self._store.record_audit(event)

    async def record_read(
        self, tenant: str, actor: str, action: str, object_id: str | None, **details: Any
    ) -> None:
        """Record a read of stored content, when reads are audited (one more write per read,
        so it is the operator's choice)."""
        if self.reads:
            await self.record(tenant, actor, action, object_id, **details)

    async def page(
        self,
        tenant: str,
        *,
        after: str | None,
        limit: int,
        since: float | None = None,
        actions: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """The tenant's events, newest first, as a list page."""
        query = AuditQuery(tenant, since, actions, after, limit)
        found = await self._store.list_audit(query)
        data = [
            {
                "object": "audit_log.event",
                "id": e.id,
                "type": e.action,
                "effective_at": int(e.at),
                "actor": e.actor,
                "object_id": e.object_id,
                "details": e.details,
            }
            for e in found.events
        ]
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": found.has_more,
        }
