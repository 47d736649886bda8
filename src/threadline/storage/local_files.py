"""`FileStore` on a local directory: `<data_dir>/files/<tenant>/<file id>` holds the bytes and
`<file id>.json` beside it the metadata.

Both are written to a temporary name and renamed into place, bytes first, so a file exists (its
sidecar is there) only once it is whole; deletion removes the sidecar first for the same reason.
Several processes may share the directory (replicas on one volume): renames are atomic and a
file never changes once written.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
from dataclasses import asdict
from pathlib import Path

from threadline.storage.base import Order
from threadline.storage.files import FilePage, FileRecord, FileStore

_FILE_ID = re.compile(r"^file-[A-Za-z0-9]{1,64}$")
_SAFE_TENANT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$")


class LocalFileStore(FileStore):
    def __init__(self, data_dir: Path) -> None:
        self._root = data_dir / "files"

    async def save(self, record: FileRecord, data: bytes) -> None:
        await asyncio.to_thread(self._save, record, data)

    async def get(self, tenant: str, file_id: str, now: float) -> FileRecord | None:
        return await asyncio.to_thread(self._get, tenant, file_id, now)

    async def read(self, tenant: str, file_id: str, now: float) -> bytes | None:
        return await asyncio.to_thread(self._read, tenant, file_id, now)

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
        records = await asyncio.to_thread(self._all, tenant, now)
        records = [r for r in records if purpose is None or r.purpose == purpose]
        records.sort(key=lambda r: (r.created_at, r.id), reverse=order == "desc")
        if after is not None:
            ids = [r.id for r in records]
            records = records[ids.index(after) + 1 :] if after in ids else []
        return FilePage(records[:limit], has_more=len(records) > limit)

    async def delete(self, tenant: str, file_id: str) -> bool:
        return await asyncio.to_thread(self._delete, tenant, file_id)

    # -- blocking work, run in a thread --------------------------------------------------------
    def _dir(self, tenant: str) -> Path:
        # Tenant names come from API keys; anything that is not a plain name gets hashed so it
        # can never climb out of the files directory.
        name = tenant if _SAFE_TENANT.match(tenant) else hashlib.sha256(tenant.encode()).hexdigest()
        return self._root / name

    def _paths(self, tenant: str, file_id: str) -> tuple[Path, Path] | None:
        if not _FILE_ID.match(file_id):
            return None
        directory = self._dir(tenant)
        return directory / file_id, directory / f"{file_id}.json"

    def _save(self, record: FileRecord, data: bytes) -> None:
        paths = self._paths(record.tenant, record.id)
        if paths is None:
            raise ValueError(f"not a file id: {record.id!r}")
        blob, sidecar = paths
        blob.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(blob, data)
        _write_atomically(sidecar, json.dumps(asdict(record)).encode())

    def _get(self, tenant: str, file_id: str, now: float) -> FileRecord | None:
        paths = self._paths(tenant, file_id)
        return _load(paths[1], tenant, now) if paths else None

    def _read(self, tenant: str, file_id: str, now: float) -> bytes | None:
        paths = self._paths(tenant, file_id)
        if paths is None or _load(paths[1], tenant, now) is None:
            return None
        try:
            return paths[0].read_bytes()
        except FileNotFoundError:  # deleted in between
            return None

    def _all(self, tenant: str, now: float) -> list[FileRecord]:
        directory = self._dir(tenant)
        if not directory.is_dir():
            return []
        records = (_load(path, tenant, now) for path in directory.glob("file-*.json"))
        return [record for record in records if record is not None]

    def _delete(self, tenant: str, file_id: str) -> bool:
        paths = self._paths(tenant, file_id)
        if paths is None:
            return False
        blob, sidecar = paths
        try:
            sidecar.unlink()
        except FileNotFoundError:
            return False
        with contextlib.suppress(FileNotFoundError):
            blob.unlink()
        return True


def _load(sidecar: Path, tenant: str, now: float) -> FileRecord | None:
    try:
        record = FileRecord(**json.loads(sidecar.read_bytes()))
    except (FileNotFoundError, ValueError, TypeError):
        return None
    if record.tenant != tenant or (record.expires_at is not None and record.expires_at <= now):
        return None
    return record


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
