"""The audit trail of MemoryStore (see memory.py and storage/audit.py)."""

from __future__ import annotations

from threadline.errors import InvalidRequest
from threadline.storage.audit import AuditEvent, AuditPage, AuditQuery, AuditTrail


class MemoryAudit(AuditTrail):
    def __init__(self) -> None:
        self._audit: list[AuditEvent] = []

    async def record_audit(self, event: AuditEvent) -> None:
        self._audit.append(event)

    async def list_audit(self, query: AuditQuery) -> AuditPage:
        found = [
            e
            for e in self._audit
            if (query.tenant is None or e.tenant == query.tenant)
            and (query.since is None or e.at >= query.since)
            and (not query.actions or e.action in query.actions)
        ]
        found.sort(key=lambda e: (e.at, e.id), reverse=True)
        if query.after is not None:
            last = next(
                (
                    e
                    for e in self._audit
                    if e.id == query.after and (query.tenant is None or e.tenant == query.tenant)
                ),
                None,
            )
            if last is None:
                raise InvalidRequest(f"'after' names no event: '{query.after}'.", param="after")
            found = [e for e in found if (e.at, e.id) < (last.at, last.id)]
        return AuditPage(found[: query.limit], has_more=len(found) > query.limit)
