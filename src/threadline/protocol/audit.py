"""The audit log query: `GET /v1/threadline/audit_log`."""

from __future__ import annotations

from pydantic import Field

from threadline.protocol.content import WireModel


class AuditLogQuery(WireModel):
    after: str | None = None
    limit: int = Field(default=20, ge=1, le=100)
    since: float | None = Field(default=None, ge=0)
    """Only events at or after this time (unix seconds)."""
    event_types: list[str] | None = Field(default=None, max_length=50)
