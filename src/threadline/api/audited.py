"""Recording an act of a request in the audit log (engine/audit.py), once it succeeded; a read
of stored content only when the operator audits reads (`audit_reads`)."""

from __future__ import annotations

from typing import Any

from threadline.engine.api_keys import Caller
from threadline.engine.audit import actor_of
from threadline.wiring import Services


async def audited(
    services: Services, caller: Caller, action: str, object_id: str | None, **details: Any
) -> None:
    await services.audit.record(caller.tenant, actor_of(caller), action, object_id, **details)


async def read_audited(
    services: Services, caller: Caller, action: str, object_id: str | None, **details: Any
) -> None:
    await services.audit.record_read(caller.tenant, actor_of(caller), action, object_id, **details)
