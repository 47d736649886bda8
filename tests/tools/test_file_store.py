"""The local-directory file store, and how files reach providers that read them natively."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.tools.pdf import make_pdf
from threadline.engine.files.inputs import FileInputs
from threadline.providers.chat_messages import chat_messages
from threadline.storage.files import FileRecord
from threadline.storage.local_files import LocalFileStore


def record(file_id: str, tenant: str = "alice", **fields: object) -> FileRecord:
    values: dict[str, object] = {
        "id": file_id,
        "tenant": tenant,
        "filename": "a.pdf",
        "bytes": 3,
        "created_at": 100.0,
        "purpose": "user_data",
        "media_type": "application/pdf",
        **fields,
    }
    return FileRecord(**values)  # type: ignore[arg-type]


async def test_files_belong_to_their_tenant(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    await store.save(record("file-a1"), b"abc")
    assert await store.read("alice", "file-a1", now=200) == b"abc"
    assert await store.get("bob", "file-a1", now=200) is None
    assert await store.read("bob", "file-a1", now=200) is None
    assert not await store.delete("bob", "file-a1")
    assert (tmp_path / "files" / "alice" / "file-a1.json").exists()


async def test_expired_files_are_absent(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    await store.save(record("file-e1", expires_at=150.0), b"abc")
    assert await store.get("alice", "file-e1", now=149) is not None
    assert await store.get("alice", "file-e1", now=150) is None
    page = await store.list_files("alice", 150, purpose=None, after=None, limit=10, order="asc")
    assert page.files == []


async def test_ids_and_tenants_cannot_leave_the_files_directory(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "data")
    assert await store.get("alice", "../../etc/passwd", now=0) is None
    await store.save(record("file-t1", tenant="../evil"), b"x")
    written = [p for p in (tmp_path / "data" / "files").rglob("*") if p.is_file()]
    assert written and all(p.parent.parent == tmp_path / "data" / "files" for p in written)
    assert await store.read("../evil", "file-t1", now=200) == b"x"


async def test_native_providers_get_the_file_itself(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    pdf = make_pdf(["hello"])
    await store.save(record("file-n1", bytes=len(pdf)), pdf)
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "user",
        "content": [{"type": "input_file", "file_id": "file-n1"}],
    }
    items = await FileInputs(store, None).for_provider("alice", [message], 1, native=True)
    assert message["content"] == [{"type": "input_file", "file_id": "file-n1"}]  # not mutated
    sent = chat_messages(None, items).as_list()[0]["content"][0]
    data_url = "data:application/pdf;base64," + base64.b64encode(pdf).decode()
    assert sent == {"type": "file", "file": {"filename": "a.pdf", "file_data": data_url}}


class CountingStore(LocalFileStore):
    reads = 0

    async def read(self, tenant: str, file_id: str, now: float) -> bytes | None:
        self.reads += 1
        return await super().read(tenant, file_id, now)


async def test_a_pdf_is_converted_once_and_never_served_after_deletion(tmp_path: Path) -> None:
    store = CountingStore(tmp_path)
    pdf = make_pdf(["cached words"])
    await store.save(record("file-c1", bytes=len(pdf)), pdf)
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "user",
        "content": [{"type": "input_file", "file_id": "file-c1"}],
    }
    inputs = FileInputs(store, None)
    for _ in range(3):
        items = await inputs.for_provider("alice", [message], 0, native=False)
        assert "cached words" in items[0]["content"][0]["text"]
    assert store.reads == 1

    await store.delete("alice", "file-c1")
    items = await inputs.for_provider("alice", [message], 0, native=False)
    assert items[0]["content"] == [{"type": "input_text", "text": "[No such File object: file-c1]"}]
