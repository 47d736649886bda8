"""Responses and stored chat completions: listed newest first (by status and model), each
opened with its timings and usage, its input and output hidden until revealed (audited)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from threadline.api.console.fields import field
from threadline.api.console.guard import ConsoleRoute, FormDep, Operator, OperatorDep
from threadline.api.console.rendering import render
from threadline.api.console.transcript import Entry, Part, transcript
from threadline.engine.api_keys import OPEN_TENANT
from threadline.errors import NotFound
from threadline.storage.base import CompletionFilter
from threadline.storage.response_listing import ResponseFilter

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

PAGE = 25
ITEMS = 500
STATUSES = ("completed", "failed", "incomplete", "in_progress", "queued", "cancelled")


@router.get("/responses")
async def responses(
    request: Request,
    operator: OperatorDep,
    tenant: str = OPEN_TENANT,
    status: str = "",
    model: str = "",
    after: str | None = None,
) -> Response:
    flt = ResponseFilter(status or None, model.strip() or None)
    page = await operator.services.store.list_responses(tenant, flt, after=after, limit=PAGE)
    return render(
        request,
        "responses.html",
        title="Responses",
        op=operator,
        tenants=await operator.tenants(),
        tenant=tenant,
        status=status,
        model=model,
        statuses=STATUSES,
        responses=page.responses,
        has_more=page.has_more,
    )


async def _response_page(
    request: Request, operator: Operator, tenant: str, response_id: str, revealed: bool
) -> Response:
    store = operator.services.store
    found = await store.get_response(tenant, response_id)
    if found is None:
        raise NotFound(f"No response with id '{response_id}' in tenant '{tenant}'.")
    inputs = await store.list_input_items(tenant, response_id, after=None, limit=ITEMS, order="asc")
    return render(
        request,
        "response.html",
        title=f"Response {response_id}",
        op=operator,
        tenant=tenant,
        response=found.record,
        input_entries=transcript(inputs.items if inputs else []),
        entries=transcript(found.output),
        revealed=revealed,
    )


@router.get("/responses/{response_id}")
async def response(
    request: Request, operator: OperatorDep, response_id: str, tenant: str = OPEN_TENANT
) -> Response:
    return await _response_page(request, operator, tenant, response_id, revealed=False)


@router.post("/responses/{response_id}/reveal")
async def reveal_response(
    request: Request, operator: OperatorDep, form: FormDep, response_id: str
) -> Response:
    tenant = field(form, "tenant") or OPEN_TENANT
    page = await _response_page(request, operator, tenant, response_id, revealed=True)
    await operator.record(tenant, "response.revealed", response_id)  # before it is sent
    return page


@router.get("/completions")
async def completions(
    request: Request,
    operator: OperatorDep,
    tenant: str = OPEN_TENANT,
    model: str = "",
    after: str | None = None,
) -> Response:
    flt = CompletionFilter(model=model.strip() or None)
    page = await operator.services.store.list_completions(
        tenant, flt, after=after, limit=PAGE, order="desc"
    )
    return render(
        request,
        "completions.html",
        title="Chat completions",
        op=operator,
        tenants=await operator.tenants(),
        tenant=tenant,
        model=model,
        completions=page.completions,
        has_more=page.has_more,
    )


def chat_entries(messages: list[dict[str, Any]], completion: dict[str, Any]) -> list[Entry]:
    """A stored chat completion's request messages, then its choices, as transcript entries."""
    said = [*messages, *(c.get("message") or {} for c in completion.get("choices") or [])]
    entries = []
    for index, message in enumerate(said):
        content = message.get("content")
        if isinstance(content, list):
            text = "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        else:
            text = "" if content is None else str(content)
        parts = [Part("text", text)] if text else []
        parts += [Part("code", str(call)) for call in message.get("tool_calls") or []]
        role = str(message.get("role", "message"))
        entries.append(Entry(f"message {index + 1}", "message", role, parts))
    return entries


async def _completion_page(
    request: Request, operator: Operator, tenant: str, completion_id: str, revealed: bool
) -> Response:
    found = await operator.services.store.get_completion(tenant, completion_id)
    if found is None:
        raise NotFound(f"No chat completion with id '{completion_id}' in tenant '{tenant}'.")
    return render(
        request,
        "completion.html",
        title=f"Chat completion {completion_id}",
        op=operator,
        tenant=tenant,
        completion=found,
        usage=found.completion.get("usage") or {},
        entries=chat_entries(found.messages, found.completion),
        revealed=revealed,
    )


@router.get("/completions/{completion_id}")
async def completion(
    request: Request, operator: OperatorDep, completion_id: str, tenant: str = OPEN_TENANT
) -> Response:
    return await _completion_page(request, operator, tenant, completion_id, revealed=False)


@router.post("/completions/{completion_id}/reveal")
async def reveal_completion(
    request: Request, operator: OperatorDep, form: FormDep, completion_id: str
) -> Response:
    tenant = field(form, "tenant") or OPEN_TENANT
    page = await _completion_page(request, operator, tenant, completion_id, revealed=True)
    await operator.record(tenant, "chat_completion.revealed", completion_id)  # before it is sent
    return page
