"""/v1/threadline/: Threadline's own endpoints over the caller's tenant: the pipeline export
(NDJSON), item search and the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response, StreamingResponse

from threadline.api.audited import read_audited
from threadline.api.deps import CallerDep, ServicesDep
from threadline.api.json import json_response
from threadline.api.routing import JsonRoute
from threadline.engine.audit import actor_of
from threadline.protocol.audit import AuditLogQuery
from threadline.protocol.export import ExportQuery
from threadline.protocol.search import SearchQuery

router = APIRouter(prefix="/v1/threadline", tags=["export"], route_class=JsonRoute)


@router.get("/export")
async def export_changes(
    services: ServicesDep, caller: CallerDep, query: Annotated[ExportQuery, Query()]
) -> Response:
    """What changed in the tenant's responses, conversations, conversation items and stored
    chat completions since `cursor` (or everything), one JSON object per line; the last line
    is the cursor to pass next time. A body without that line was cut short: export again
    from the same cursor."""
    export = services.export
    start = export.start(query.cursor)  # a bad or expired cursor is a 400, before any byte
    tenant = caller.tenant
    records = export.records(tenant, start, since=query.since, limit=query.limit)
    await services.audit.record(
        tenant, actor_of(caller), "tenant.exported", cursor=query.cursor, since=query.since
    )
    return StreamingResponse(_lines(records), media_type="application/x-ndjson")


@router.get("/search")
async def search_items(
    services: ServicesDep, caller: CallerDep, query: Annotated[SearchQuery, Query()]
) -> Response:
    """The tenant's stored items (messages, tool calls, their outputs) that contain every word
    of `q`, most relevant first, each with its conversation, response and a snippet."""
    found = await services.search.search(caller.tenant, query.q, limit=query.limit)
    await read_audited(services, caller, "items.searched", None, hits=len(found["data"]))
    return json_response(found)


@router.get("/audit_log")
async def audit_log(
    services: ServicesDep, caller: CallerDep, query: Annotated[AuditLogQuery, Query()]
) -> Response:
    """The tenant's audit events, newest first: deletions, exports, imports, erasures and key
    changes, each with its actor (an API key id, `open`, or `operator:<user>`)."""
    page = await services.audit.page(
        caller.tenant,
        after=query.after,
        limit=query.limit,
        since=query.since,
        actions=tuple(query.event_types or ()),
    )
    return json_response(page)


async def _lines(records: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async for record in records:
        yield orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
