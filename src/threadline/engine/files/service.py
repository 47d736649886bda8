"""The Files API use cases: upload, list, retrieve, download, delete (`/v1/files`)."""

from __future__ import annotations

import mimetypes
import secrets
from dataclasses import dataclass
from typing import Any

from threadline.engine.clock import Clock, system_clock
from threadline.engine.pages import list_page
from threadline.errors import InvalidRequest, NotFound, PayloadTooLarge
from threadline.storage.base import Order
from threadline.storage.files import FileRecord, FileStore

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
_MIN_EXPIRY, _MAX_EXPIRY = 3600, 2_592_000  # OpenAI's bounds for expires_after.seconds


def new_file_id() -> str:
    return f"file-{secrets.token_hex(16)}"


@dataclass(slots=True)
class FileContent:
    data: bytes
    media_type: str
    filename: str


class FileService:
    def __init__(self, files: FileStore, *, max_bytes: int, clock: Clock = system_clock) -> None:
        self._files = files
        self.max_bytes = max_bytes
        self._clock = clock

    def too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"The file is larger than the limit of {self.max_bytes} bytes "
            "(setting THREADLINE_MAX_FILE_BYTES).",
            param="file",
        )

    async def upload(
        self,
        tenant: str,
        *,
        filename: str,
        data: bytes,
        purpose: str,
        media_type: str | None = None,
        expires_after_seconds: int | None = None,
    ) -> dict[str, Any]:
        if purpose not in PURPOSES:
            raise InvalidRequest(
                f"Invalid value for 'purpose': '{purpose}'. Expected one of: "
                + ", ".join(f"'{p}'" for p in PURPOSES)
                + ".",
                param="purpose",
                code="invalid_value",
            )
        if len(data) > self.max_bytes:
            raise self.too_large()
        if expires_after_seconds is not None and not (
            _MIN_EXPIRY <= expires_after_seconds <= _MAX_EXPIRY
        ):
            raise InvalidRequest(
                f"'expires_after.seconds' must be between {_MIN_EXPIRY} and {_MAX_EXPIRY}.",
                param="expires_after.seconds",
            )
        name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip() or "file"
        now = self._clock()
        record = FileRecord(
            id=new_file_id(),
            tenant=tenant,
            filename=name[:255],
            bytes=len(data),
            created_at=now,
            purpose=purpose,
            media_type=_media_type(media_type, name),
            expires_at=now + expires_after_seconds if expires_after_seconds else None,
        )
        await self._files.save(record, data)
        return file_object(record)

    async def list(
        self, tenant: str, *, purpose: str | None, after: str | None, limit: int, order: Order
    ) -> dict[str, Any]:
        page = await self._files.list_files(
            tenant, self._clock(), purpose=purpose, after=after, limit=limit, order=order
        )
        return list_page([file_object(record) for record in page.files], has_more=page.has_more)

    async def retrieve(self, tenant: str, file_id: str) -> dict[str, Any]:
        record = await self._files.get(tenant, file_id, self._clock())
        if record is None:
            raise file_not_found(file_id)
        return file_object(record)

    async def content(self, tenant: str, file_id: str) -> FileContent:
        now = self._clock()
        record = await self._files.get(tenant, file_id, now)
        data = await self._files.read(tenant, file_id, now) if record else None
        if record is None or data is None:
            raise file_not_found(file_id)
        return FileContent(data, record.media_type, record.filename)

    async def delete(self, tenant: str, file_id: str) -> dict[str, Any]:
        if not await self._files.delete(tenant, file_id):
            raise file_not_found(file_id)
        return {"id": file_id, "object": "file", "deleted": True}


def file_not_found(file_id: str, param: str = "file_id") -> NotFound:
    return NotFound(f"No such File object: {file_id}", param=param)


def file_object(record: FileRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "object": "file",
        "bytes": record.bytes,
        "created_at": int(record.created_at),
        "expires_at": int(record.expires_at) if record.expires_at is not None else None,
        "filename": record.filename,
        "purpose": record.purpose,
        "status": "processed",
        "status_details": None,
    }


def _media_type(declared: str | None, filename: str) -> str:
    declared = (declared or "").split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return declared
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"
