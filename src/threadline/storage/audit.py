"""The audit trail contract: who did what to which object, and when; append-only.

- An event belongs to a tenant (None: an act on the server as a whole, such as opening it).
- `list_audit` reads newest first: by `at`, then by id, both descending; `after` is the id of
  the last event of the previous page. Another tenant's events are never listed for a tenant.
- Events are written one at a time, durably, before the act they record is reported done.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: str
    at: float
    tenant: str | None
    actor: str
    """`api_key:<id>`, `open` (a request to a server without keys), or `operator:<user>` (the
    command line)."""
    action: str
    """`<object>.<verb>`: `conversation.deleted`, `api_key.created`, `end_user.erased`…"""
    object_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    tenant: str | None = None
    """One tenant's events (None: every tenant's, and the server's)."""
    since: float | None = None
    actions: tuple[str, ...] = ()
    after: str | None = None
    limit: int = 20


@dataclass(slots=True)
class AuditPage:
    events: list[AuditEvent]
    has_more: bool


class AuditTrail(abc.ABC):
    """The part of `Store` that keeps the audit trail (see the module docstring)."""

    @abc.abstractmethod
    async def record_audit(self, event: AuditEvent) -> None: ...

    @abc.abstractmethod
    async def list_audit(self, query: AuditQuery) -> AuditPage:
        """Newest first; an `after` that names no event of the query's tenant is
        `InvalidRequest` naming `after`."""
