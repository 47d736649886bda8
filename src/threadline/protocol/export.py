"""`GET /v1/threadline/export`: Threadline's pipeline export (engine/export.py)."""

from __future__ import annotations

from pydantic import Field

from threadline.protocol.content import WireModel


class ExportQuery(WireModel):
    cursor: str | None = Field(
        default=None, description="The `cursor` of the last record of an earlier export."
    )
    since: float | None = Field(
        default=None, ge=0, description="Only what changed at or after this time (unix seconds)."
    )
    limit: int = Field(
        default=1000, ge=1, le=10_000, description="At most this many records before the cursor."
    )
