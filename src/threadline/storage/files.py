"""The file store contract: uploaded files (`POST /v1/files`) and their metadata.

Kept apart from `Store` on purpose: blobs do not belong in the conversation database, and every
database backend keeps working unchanged whatever holds the files.

- A file is immutable once saved: its bytes and its metadata (`FileRecord`) never change.
- Every read and write is scoped to a tenant; another tenant's file is indistinguishable from
  a file that does not exist (None / False, never an exception).
- A file past its `expires_at` is treated as absent.
- Items refer to files by id (`input_file.file_id`); deleting a file does not touch the items
  that name it (the engine then tells the model the file is gone).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from threadline.storage.base import Order


@dataclass(slots=True)
class FileRecord:
    id: str
    tenant: str
    filename: str
    bytes: int
    created_at: float
    purpose: str
    media_type: str
    expires_at: float | None = None


@dataclass(slots=True)
class FilePage:
    files: list[FileRecord]
    has_more: bool


class FileStore(abc.ABC):
    @abc.abstractmethod
    async def save(self, record: FileRecord, data: bytes) -> None:
        """Store the bytes and the metadata; the file is visible only once both are."""

    @abc.abstractmethod
    async def get(self, tenant: str, file_id: str, now: float) -> FileRecord | None: ...

    @abc.abstractmethod
    async def read(self, tenant: str, file_id: str, now: float) -> bytes | None: ...

    @abc.abstractmethod
    async def list_files(
        self,
        tenant: str,
        now: float,
        *,
        purpose: str | None,
        after: str | None,
        limit: int,
        order: Order,
    ) -> FilePage:
        """The tenant's files by `created_at` (ties by id); `after` is a file id."""

    @abc.abstractmethod
    async def delete(self, tenant: str, file_id: str) -> bool: ...
