"""The Vector Stores API through the official SDK: stores, files, batches, contents, search.

Embeddings come from the fake upstream (tests/fake_embeddings.py: vectors that depend on the
text alone, with no meaning), so what these tests assert of ranking is what does not depend on
meaning: filters, keywords, thresholds, counts. Retrieval quality is measured in
bench/retrieval.py with an embedding that has some.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest

from tests.api.test_usage_reports import report, results
from tests.live_server import LiveServer

TIMEOUT = 20.0

HANDBOOK = (
    "# Travel handbook\n\nEmployees book flights through the travel desk. Economy class is the "
    "rule for flights under six hours; business class needs a director's approval.\n"
)
HARDWARE = (
    "Laptops are replaced every three years. A broken laptop goes to the service desk, which "
    "lends a spare machine while it is repaired.\n"
)


def upload(client: openai.OpenAI, name: str, data: bytes) -> str:
    return client.files.create(file=(name, data), purpose="assistants").id


def ingested(client: openai.OpenAI, vector_store_id: str) -> Any:
    """The store once no file is in progress."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        store = client.vector_stores.retrieve(vector_store_id)
        if store.file_counts.in_progress == 0:
            return store
        if time.monotonic() > deadline:
            raise AssertionError(f"still ingesting: {store.file_counts}")
        time.sleep(0.05)


@pytest.fixture
def handbook_store(client: openai.OpenAI) -> str:
    travel = upload(client, "travel.md", HANDBOOK.encode())
    hardware = upload(client, "hardware.txt", HARDWARE.encode())
    store = client.vector_stores.create(name="handbook", metadata={"team": "ops"})
    client.vector_stores.files.create(
        vector_store_id=store.id, file_id=travel, attributes={"topic": "travel", "year": 2024}
    )
    client.vector_stores.files.create(
        vector_store_id=store.id, file_id=hardware, attributes={"topic": "it", "year": 2022}
    )
    ingested(client, store.id)
    return store.id


def test_a_store_made_from_files_completes_with_their_counts_and_usage(
    client: openai.OpenAI,
) -> None:
    files = [upload(client, f"note{n}.txt", f"note number {n}".encode()) for n in range(3)]
    store = client.vector_stores.create(
        name="notes",
        file_ids=files,
        expires_after={"anchor": "last_active_at", "days": 7},
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 50},
        },
    )
    assert store.object == "vector_store" and store.id.startswith("vs_")
    assert store.file_counts.total == 3
    done = ingested(client, store.id)
    assert done.status == "completed"
    assert (done.file_counts.completed, done.file_counts.failed) == (3, 0)
    assert done.usage_bytes > 0
    assert done.expires_after is not None and done.expires_after.days == 7
    assert done.expires_at == done.last_active_at + 7 * 86400
    listed = client.vector_stores.files.list(vector_store_id=store.id)
    assert sorted(f.id for f in listed.data) == sorted(files)
    one = listed.data[0]
    assert one.status == "completed" and one.last_error is None
    assert one.chunking_strategy.type == "static"
    assert one.chunking_strategy.static.max_chunk_size_tokens == 100  # type: ignore[union-attr]


def test_stores_are_listed_modified_and_deleted(client: openai.OpenAI) -> None:
    first = client.vector_stores.create(name="first")
    second = client.vector_stores.create(name="second")
    newest = client.vector_stores.list(limit=2)
    assert [s.id for s in newest.data] == [second.id, first.id]
    renamed = client.vector_stores.update(
        vector_store_id=first.id, name="renamed", metadata={"k": "v"}
    )
    assert (renamed.name, renamed.metadata) == ("renamed", {"k": "v"})
    assert client.vector_stores.retrieve(first.id).name == "renamed"
    deleted = client.vector_stores.delete(first.id)
    assert deleted.deleted and deleted.object == "vector_store.deleted"
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve(first.id)


def test_a_file_is_chunked_by_tokens_with_overlap(client: openai.OpenAI) -> None:
    words = " ".join(f"word{n}" for n in range(600))
    file_id = upload(client, "long.txt", words.encode())
    store = client.vector_stores.create(name="long")
    client.vector_stores.files.create(
        vector_store_id=store.id,
        file_id=file_id,
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 100},
        },
    )
    ingested(client, store.id)
    chunks = [
        c.text
        for c in client.vector_stores.files.content(vector_store_id=store.id, file_id=file_id)
    ]
    assert len(chunks) > 3
    assert chunks[0].startswith("word0 ") and chunks[-1].endswith("word599")
    # Neighbours overlap: the second chunk starts inside the first.
    assert chunks[1].split()[1] in chunks[0].split()


def test_search_filters_on_attributes_and_finds_by_keyword(
    client: openai.OpenAI, handbook_store: str
) -> None:
    found = client.vector_stores.search(
        vector_store_id=handbook_store, query="business class flights approval"
    )
    assert found.data[0].filename == "travel.md"
    assert found.search_query == ["business class flights approval"]
    assert all(0 <= hit.score <= 1 for hit in found.data)
    assert found.data[0].attributes == {"topic": "travel", "year": 2024}
    only_it = client.vector_stores.search(
        vector_store_id=handbook_store,
        query="business class flights",
        filters={"type": "eq", "key": "topic", "value": "it"},
    )
    assert {hit.filename for hit in only_it.data} == {"hardware.txt"}
    recent = client.vector_stores.search(
        vector_store_id=handbook_store,
        query="laptop",
        filters={
            "type": "and",
            "filters": [
                {"type": "gte", "key": "year", "value": 2023},
                {"type": "in", "key": "topic", "value": ["travel", "it"]},
            ],
        },
    )
    assert {hit.filename for hit in recent.data} == {"travel.md"}


def test_score_threshold_and_max_results_cut_the_results(
    client: openai.OpenAI, handbook_store: str
) -> None:
    everything = client.vector_stores.search(vector_store_id=handbook_store, query="laptop")
    assert len(everything.data) == 2
    one = client.vector_stores.search(
        vector_store_id=handbook_store, query="laptop", max_num_results=1
    )
    assert [hit.filename for hit in one.data] == [everything.data[0].filename]
    strict = client.vector_stores.search(
        vector_store_id=handbook_store,
        query="laptop",
        ranking_options={"score_threshold": 0.99},
    )
    assert all(hit.score >= 0.99 for hit in strict.data)
    assert len(strict.data) < len(everything.data)


def test_rewrite_query_reports_the_query_it_searched(
    client: openai.OpenAI, handbook_store: str
) -> None:
    found = client.vector_stores.search(
        vector_store_id=handbook_store,
        query="What should I do with a broken laptop?",
        rewrite_query=True,
    )
    assert found.search_query == ["broken laptop"]
    assert found.data[0].filename == "hardware.txt"


def test_file_attributes_are_updated_and_files_removed(
    client: openai.OpenAI, handbook_store: str
) -> None:
    files = client.vector_stores.files.list(vector_store_id=handbook_store, filter="completed")
    target = next(f for f in files.data if f.attributes and f.attributes["topic"] == "it")
    updated = client.vector_stores.files.update(
        vector_store_id=handbook_store, file_id=target.id, attributes={"topic": "hardware"}
    )
    assert updated.attributes == {"topic": "hardware"}
    found = client.vector_stores.search(
        vector_store_id=handbook_store,
        query="laptop",
        filters={"type": "eq", "key": "topic", "value": "hardware"},
    )
    assert [hit.file_id for hit in found.data] == [target.id]
    deleted = client.vector_stores.files.delete(vector_store_id=handbook_store, file_id=target.id)
    assert deleted.deleted and deleted.object == "vector_store.file.deleted"
    after = client.vector_stores.search(vector_store_id=handbook_store, query="laptop")
    assert target.id not in {hit.file_id for hit in after.data}
    assert client.files.retrieve(target.id).id == target.id  # the upload itself stays
    store = client.vector_stores.retrieve(handbook_store)
    assert store.file_counts.total == 1


def test_a_file_batch_ingests_its_files_and_lists_them(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="batch")
    ids = [upload(client, f"b{n}.md", f"batch file {n}".encode()) for n in range(4)]
    batch = client.vector_stores.file_batches.create(
        vector_store_id=store.id, file_ids=ids, attributes={"source": "batch"}
    )
    assert batch.object == "vector_store.files_batch"
    assert batch.file_counts.total == 4
    deadline = time.monotonic() + TIMEOUT
    while batch.status == "in_progress" and time.monotonic() < deadline:
        time.sleep(0.05)
        batch = client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)
    assert batch.status == "completed" and batch.file_counts.completed == 4
    listed = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)
    assert sorted(f.id for f in listed.data) == sorted(ids)
    assert all(f.attributes == {"source": "batch"} for f in listed.data)


def test_a_cancelled_batch_stops_its_waiting_files(
    client: openai.OpenAI, http: httpx.Client
) -> None:
    store = client.vector_stores.create(name="cancel")
    ids = [upload(client, f"c{n}.txt", b"slow " * 50) for n in range(30)]
    batch = client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=ids)
    cancelled = client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    assert cancelled.status == "cancelled"
    time.sleep(0.5)
    final = client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)
    counts = final.file_counts
    assert counts.in_progress == 0 and counts.cancelled > 0
    assert counts.cancelled + counts.completed == 30


def test_a_file_no_reader_reads_fails_with_its_reason(client: openai.OpenAI) -> None:
    image = upload(client, "photo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    broken = upload(client, "broken.pdf", b"%PDF-1.4 this is not really a pdf")
    store = client.vector_stores.create(name="bad", file_ids=[image, broken])
    done = ingested(client, store.id)
    assert done.file_counts.failed == 2
    errors = {
        f.id: f.last_error
        for f in client.vector_stores.files.list(vector_store_id=store.id, filter="failed").data
    }
    assert errors[image] is not None and errors[image].code == "unsupported_file"
    assert errors[broken] is not None and errors[broken].code in ("invalid_file", "server_error")


def test_office_and_html_files_are_read_as_text(client: openai.OpenAI) -> None:
    import io
    import zipfile

    document = io.BytesIO()
    with zipfile.ZipFile(document, "w") as archive:
        archive.writestr(
            "word/document.xml",
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            "<w:body><w:p><w:r><w:t>Quarterly </w:t></w:r><w:r><w:t>report</w:t></w:r></w:p>"
            "<w:p><w:r><w:t>Revenue grew.</w:t></w:r></w:p></w:body></w:document>",
        )
    docx = upload(client, "report.docx", document.getvalue())
    slides = io.BytesIO()
    with zipfile.ZipFile(slides, "w") as archive:
        for number, title in ((10, "Last slide"), (2, "Second slide"), (1, "First slide")):
            archive.writestr(
                f"ppt/slides/slide{number}.xml",
                '<p:sld xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" '
                'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main">'
                f"<p:cSld><a:p><a:r><a:t>{title}</a:t></a:r></a:p></p:cSld></p:sld>",
            )
    pptx = upload(client, "deck.pptx", slides.getvalue())
    html = upload(
        client,
        "page.html",
        b"<html><head><style>p{}</style><script>alert(1)</script></head>"
        b"<body><h1>Title</h1><p>Visible &amp; kept</p></body></html>",
    )
    store = client.vector_stores.create(name="formats", file_ids=[docx, pptx, html])
    assert ingested(client, store.id).file_counts.completed == 3
    word = client.vector_stores.files.content(vector_store_id=store.id, file_id=docx)
    assert [c.text for c in word] == ["Quarterly report\n\nRevenue grew."]
    deck = client.vector_stores.files.content(vector_store_id=store.id, file_id=pptx)
    assert [c.text for c in deck] == ["First slide\n\nSecond slide\n\nLast slide"]
    page = client.vector_stores.files.content(vector_store_id=store.id, file_id=html)
    assert [c.text for c in page] == ["Title\nVisible & kept"]


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("", {"file_ids": ["file-missing"]}, "file_ids[0]"),
        (
            "",
            {
                "chunking_strategy": {
                    "type": "static",
                    "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0},
                }
            },
            "chunking_strategy.static.max_chunk_size_tokens",
        ),
        (
            "",
            {
                "chunking_strategy": {
                    "type": "static",
                    "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 150},
                }
            },
            "chunking_strategy.static.chunk_overlap_tokens",
        ),
        ("", {"expires_after": {"anchor": "last_active_at", "days": 0}}, "expires_after.days"),
    ],
)
def test_a_bad_store_is_refused_with_the_parameter_named(
    http: httpx.Client, path: str, body: dict[str, Any], param: str
) -> None:
    answer = http.post(f"/v1/vector_stores{path}", json=body)
    assert 400 <= answer.status_code < 500, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and error["message"]


def test_a_bad_search_is_refused(http: httpx.Client, client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="search-errors").id
    cases = [
        ({"query": ""}, 400),
        ({"query": "x", "max_num_results": 0}, 400),
        ({"query": "x", "filters": {"type": "in", "key": "k", "value": "not a list"}}, 400),
        ({"query": "x", "filters": {"type": "near", "key": "k", "value": 1}}, 400),
        ({"query": "x", "ranking_options": {"score_threshold": 2}}, 400),
    ]
    for body, status in cases:
        answer = http.post(f"/v1/vector_stores/{store}/search", json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["error"]["type"] == "invalid_request_error"
    missing = http.post("/v1/vector_stores/vs_missing/search", json={"query": "x"})
    assert missing.status_code == 404


def test_unknown_stores_files_and_batches_are_404(
    http: httpx.Client, client: openai.OpenAI
) -> None:
    store = client.vector_stores.create(name="empty").id
    for method, path in [
        ("GET", "/v1/vector_stores/vs_nope"),
        ("POST", "/v1/vector_stores/vs_nope/files"),
        ("GET", f"/v1/vector_stores/{store}/files/file-nope"),
        ("GET", f"/v1/vector_stores/{store}/files/file-nope/content"),
        ("DELETE", f"/v1/vector_stores/{store}/files/file-nope"),
        ("GET", f"/v1/vector_stores/{store}/file_batches/vsfb_nope"),
        ("POST", f"/v1/vector_stores/{store}/file_batches/vsfb_nope/cancel"),
        ("GET", f"/v1/vector_stores/{store}/file_batches/vsfb_nope/files"),
    ]:
        body = {"file_id": "file-x"} if method == "POST" and path.endswith("/files") else None
        answer = http.request(method, path, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
        assert set(answer.json()["error"]) == {"message", "type", "param", "code"}


def test_ingestion_and_search_embeddings_are_charged_to_the_tenant(
    client: openai.OpenAI, server: LiveServer, handbook_store: str
) -> None:
    client.vector_stores.search(vector_store_id=handbook_store, query="laptop repairs")
    page = report(server, "open", "usage/embeddings", group_by=["model", "api_key_id"])
    rows = [r for r in results(page) if r["api_key_id"] is None]
    assert rows, f"no embedding usage charged to the tenant: {results(page)}"
    assert sum(r["num_model_requests"] for r in rows) >= 3  # two files ingested, one search
    assert all(r["input_tokens"] > 0 for r in rows)
