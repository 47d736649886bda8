"""/v1/files: upload (multipart), list, retrieve, download, delete."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, UploadFile
from starlette.responses import Response

from threadline.api.audited import audited, read_audited
from threadline.api.deps import CallerDep, ServicesDep, TenantDep
from threadline.api.json import json_response
from threadline.errors import InvalidRequest

router = APIRouter(prefix="/v1/files", tags=["files"])

_CHUNK = 1024 * 1024


@router.post("")
async def upload_file(
    services: ServicesDep,
    tenant: TenantDep,
    file: Annotated[UploadFile, File()],
    purpose: Annotated[str, Form()],
    expires_anchor: Annotated[str | None, Form(alias="expires_after[anchor]")] = None,
    expires_seconds: Annotated[int | None, Form(alias="expires_after[seconds]")] = None,
) -> Response:
    if expires_anchor not in (None, "created_at"):
        raise InvalidRequest(
            "Invalid 'expires_after.anchor': only 'created_at' is supported.",
            param="expires_after.anchor",
        )
    limit = services.files.max_bytes
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise services.files.too_large()
        chunks.append(chunk)
    created = await services.files.upload(
        tenant,
        filename=file.filename or "file",
        data=b"".join(chunks),
        purpose=purpose,
        media_type=file.content_type,
        expires_after_seconds=expires_seconds,
    )
    return json_response(created)


@router.get("")
async def list_files(
    services: ServicesDep,
    tenant: TenantDep,
    purpose: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
) -> Response:
    page = await services.files.list(tenant, purpose=purpose, after=after, limit=limit, order=order)
    return json_response(page)


@router.get("/{file_id}")
async def retrieve_file(file_id: str, services: ServicesDep, tenant: TenantDep) -> Response:
    return json_response(await services.files.retrieve(tenant, file_id))


@router.get("/{file_id}/content")
async def file_content(file_id: str, services: ServicesDep, caller: CallerDep) -> Response:
    """The bytes, as a download and never as a page: the uploader chose the Content-Type, and
    an HTML or SVG file served as such would run its script in the server's origin."""
    content = await services.files.content(caller.tenant, file_id)
    await read_audited(services, caller, "file.read", file_id)
    return Response(
        content.data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": _attachment(content.filename),
            "X-Content-Type-Options": "nosniff",
        },
    )


def _attachment(filename: str) -> str:
    """`attachment` with the name twice: plain ASCII for old clients (anything else, quotes and
    backslashes become `_`), and exact as RFC 6266's `filename*`."""
    plain = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.delete("/{file_id}")
async def delete_file(file_id: str, services: ServicesDep, caller: CallerDep) -> Response:
    deleted = await services.files.delete(caller.tenant, file_id)
    await audited(services, caller, "file.deleted", file_id)
    return json_response(deleted)
