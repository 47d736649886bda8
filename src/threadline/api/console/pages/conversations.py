"""Conversations: the list (filtered, or found by full-text search), a transcript whose content
stays hidden until the operator reveals it (an audited act), export and deletion."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request, Response
from starlette.responses import RedirectResponse

from threadline.api.console.fields import DAY, confirmed, day_start, field, metadata_pairs
from threadline.api.console.guard import ConsoleRoute, FormDep, OperatorDep
from threadline.api.console.rendering import render
from threadline.api.console.transcript import transcript
from threadline.engine.api_keys import OPEN_TENANT
from threadline.storage.base import ConversationFilter, ConversationStatus

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

PAGE = 25
TRANSCRIPT_ITEMS = 500
STATUSES: tuple[ConversationStatus, ...] = ("active", "closed", "expired")


@router.get("/conversations")
async def conversations(
    request: Request,
    operator: OperatorDep,
    tenant: str = OPEN_TENANT,
    q: str = "",
    status: str = "",
    metadata: str = "",
    created_from: str = "",
    created_to: str = "",
    after: str | None = None,
) -> Response:
    services = operator.services
    values: dict[str, Any] = {
        "title": "Conversations",
        "op": operator,
        "tenants": await operator.tenants(),
        "tenant": tenant,
        "q": q,
        "status": status,
        "metadata": metadata,
        "created_from": created_from,
        "created_to": created_to,
        "statuses": STATUSES,
    }
    if q.strip():
        found = await services.search.search(tenant, q, limit=PAGE * 2)
        values["hits"] = found["data"]
        values["more_hits"] = found["has_more"]
        return render(request, "conversations.html", **values)
    until = day_start(created_to, "created_to")
    flt = ConversationFilter(
        metadata=metadata_pairs(metadata),
        status=status if status in STATUSES else None,
        created_after=day_start(created_from, "created_from"),
        created_before=None if until is None else until + DAY,
    )
    page = await services.store.list_conversations(tenant, flt, after=after, limit=PAGE)
    values["conversations"] = page.conversations
    values["has_more"] = page.has_more
    return render(request, "conversations.html", **values)


async def _transcript_page(
    request: Request, operator: OperatorDep, tenant: str, conversation_id: str, revealed: bool
) -> Response:
    services = operator.services
    record = await services.conversations.record(tenant, conversation_id)
    page = await services.store.list_conversation_items(
        tenant, conversation_id, after=None, limit=TRANSCRIPT_ITEMS, order="asc"
    )
    items = page.items if page else []
    return render(
        request,
        "transcript.html",
        title=f"Conversation {conversation_id}",
        op=operator,
        tenant=tenant,
        conversation=record,
        entries=transcript(items),
        truncated=bool(page and page.has_more),
        limit=TRANSCRIPT_ITEMS,
        revealed=revealed,
    )


@router.get("/conversations/{conversation_id}")
async def conversation(
    request: Request, operator: OperatorDep, conversation_id: str, tenant: str = OPEN_TENANT
) -> Response:
    return await _transcript_page(request, operator, tenant, conversation_id, revealed=False)


@router.post("/conversations/{conversation_id}/reveal")
async def reveal(
    request: Request, operator: OperatorDep, form: FormDep, conversation_id: str
) -> Response:
    """The transcript with its content: shown only in answer to this POST, after its audit
    event is written, so no link or reload skips the record."""
    tenant = field(form, "tenant") or OPEN_TENANT
    page = await _transcript_page(request, operator, tenant, conversation_id, revealed=True)
    await operator.record(tenant, "conversation.revealed", conversation_id)  # before it is sent
    return page


@router.get("/conversations/{conversation_id}/export")
async def export(
    operator: OperatorDep, conversation_id: str, tenant: str = OPEN_TENANT
) -> Response:
    services = operator.services
    exported = await services.transfer.export(tenant, conversation_id)
    await operator.record(tenant, "conversation.exported", conversation_id)
    return Response(
        orjson.dumps(exported, option=orjson.OPT_INDENT_2),
        media_type="application/json",
        headers={
            "content-disposition": f'attachment; filename="{conversation_id}.json"',
            "cache-control": "no-store",
        },
    )


@router.post("/conversations/{conversation_id}/delete")
async def delete(operator: OperatorDep, form: FormDep, conversation_id: str) -> Response:
    confirmed(form)
    tenant = field(form, "tenant") or OPEN_TENANT
    await operator.services.conversations.delete(tenant, conversation_id)
    await operator.record(tenant, "conversation.deleted", conversation_id)
    return RedirectResponse(f"/console/conversations?{urlencode({'tenant': tenant})}", 303)
