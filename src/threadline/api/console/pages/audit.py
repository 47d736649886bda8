"""The audit log, newest first, for one tenant or all of them (the server's own acts too)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from threadline.api.console.guard import ConsoleRoute, OperatorDep
from threadline.api.console.rendering import render
from threadline.storage.audit import AuditQuery

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

PAGE = 50


@router.get("/audit")
async def audit(
    request: Request, operator: OperatorDep, tenant: str = "", after: str | None = None
) -> Response:
    query = AuditQuery(tenant or None, None, (), after or None, PAGE)
    page = await operator.services.store.list_audit(query)
    return render(
        request,
        "audit.html",
        title="Audit log",
        op=operator,
        tenants=await operator.tenants(),
        tenant=tenant,
        events=page.events,
        has_more=page.has_more,
    )
