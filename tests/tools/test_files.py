"""The Files API, and files given to the model: by `file_id`, inline `file_data` or `file_url`;
PDFs become text with page markers for providers that do not read files themselves."""

from __future__ import annotations

import base64

import httpx
import openai
import pytest

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.tools.conftest import MAX_FILE_BYTES
from tests.tools.fake_search import FakeSearch
from tests.tools.pdf import make_pdf

PDF = make_pdf(["The dice are loaded.", "Roll them twice."])
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


def ask(client: openai.OpenAI, part: dict[str, object], question: str = "what do they say?"):  # type: ignore[no-untyped-def]
    return client.responses.create(
        model=MODEL,
        input=[{"role": "user", "content": [part, {"type": "input_text", "text": question}]}],
    )


def test_upload_list_retrieve_download_delete(tools_client: openai.OpenAI) -> None:
    created = tools_client.files.create(
        file=("notes.pdf", PDF, "application/pdf"), purpose="user_data"
    )
    assert created.id.startswith("file-") and created.object == "file"
    assert (created.filename, created.bytes, created.purpose) == (
        "notes.pdf",
        len(PDF),
        "user_data",
    )
    assert created.status == "processed"

    assert tools_client.files.retrieve(created.id).filename == "notes.pdf"
    listed = tools_client.files.list(purpose="user_data")
    assert created.id in [f.id for f in listed.data]
    assert tools_client.files.content(created.id).content == PDF

    deleted = tools_client.files.delete(created.id)
    assert deleted.deleted is True and deleted.id == created.id
    with pytest.raises(openai.NotFoundError) as raised:
        tools_client.files.retrieve(created.id)
    assert raised.value.body["message"] == f"No such File object: {created.id}"  # type: ignore[index]


def test_files_list_pages_in_creation_order(tools_client: openai.OpenAI) -> None:
    ids = [
        tools_client.files.create(file=(f"{n}.txt", b"x", "text/plain"), purpose="evals").id
        for n in range(3)
    ]
    page = tools_client.files.list(purpose="evals", order="asc", limit=2)
    assert [f.id for f in page.data] == ids[:2] and page.has_more
    rest = tools_client.files.list(purpose="evals", order="asc", after=ids[1])
    assert [f.id for f in rest.data] == ids[2:]


def test_upload_over_the_size_limit_is_a_413(tools_http: httpx.Client) -> None:
    response = tools_http.post(
        "/v1/files",
        files={"file": ("big.bin", b"\0" * (MAX_FILE_BYTES + 1))},
        data={"purpose": "user_data"},
    )
    assert response.status_code == 413
    assert "THREADLINE_MAX_FILE_BYTES" in response.json()["error"]["message"]


@pytest.mark.parametrize(("data", "param"), [({"purpose": "wishes"}, "purpose"), ({}, "purpose")])
def test_upload_needs_a_known_purpose(
    tools_http: httpx.Client, data: dict[str, str], param: str
) -> None:
    response = tools_http.post("/v1/files", files={"file": ("a.txt", b"a")}, data=data)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_model_reads_an_uploaded_pdf_as_text_with_page_markers(
    tools_client: openai.OpenAI, fake: FakeUpstream
) -> None:
    uploaded = tools_client.files.create(file=("notes.pdf", PDF), purpose="user_data")
    response = ask(tools_client, {"type": "input_file", "file_id": uploaded.id})

    sent = fake.last_request()["body"]["messages"][-1]["content"]
    assert sent.startswith('<file name="notes.pdf">\n[page 1]\nThe dice are loaded.')
    assert "[page 2]\nRoll them twice." in sent
    assert "The dice are loaded." in response.output_text
    # The stored item keeps the reference, not a copy of the file.
    item = tools_client.responses.input_items.list(response.id).data[0]
    assert item.content[0].file_id == uploaded.id  # type: ignore[union-attr]


def test_model_reads_an_inline_pdf(tools_client: openai.OpenAI, fake: FakeUpstream) -> None:
    data = "data:application/pdf;base64," + base64.b64encode(PDF).decode()
    ask(tools_client, {"type": "input_file", "filename": "inline.pdf", "file_data": data})
    sent = fake.last_request()["body"]["messages"][-1]["content"]
    assert sent.startswith('<file name="inline.pdf">\n[page 1]\nThe dice are loaded.')


def test_a_pdf_without_a_cross_reference_table_is_read_leniently(
    tools_client: openai.OpenAI, fake: FakeUpstream
) -> None:
    pdf = make_pdf(["Hand-written PDF."], xref=False)
    assert b"startxref" not in pdf
    data = "data:application/pdf;base64," + base64.b64encode(pdf).decode()
    ask(tools_client, {"type": "input_file", "filename": "lenient.pdf", "file_data": data})
    sent = fake.last_request()["body"]["messages"][-1]["content"]
    assert sent.startswith('<file name="lenient.pdf">\n[page 1]\nHand-written PDF.')


def test_model_reads_a_pdf_by_url(
    tools_client: openai.OpenAI, search: FakeSearch, fake: FakeUpstream
) -> None:
    search.documents["remote.pdf"] = (PDF, "application/pdf")
    ask(tools_client, {"type": "input_file", "file_url": f"{search.url}/files/remote.pdf"})
    sent = fake.last_request()["body"]["messages"][-1]["content"]
    assert sent.startswith('<file name="remote.pdf">\n[page 1]\nThe dice are loaded.')


@pytest.mark.parametrize("by", ["file_id", "file_url"])
def test_a_file_in_a_function_call_output_is_resolved_like_any_other(
    tools_client: openai.OpenAI, fake: FakeUpstream, search: FakeSearch, by: str
) -> None:
    if by == "file_id":
        uploaded = tools_client.files.create(file=("tool.pdf", PDF), purpose="user_data")
        part = {"type": "input_file", "file_id": uploaded.id}
    else:
        search.documents["tool.pdf"] = (PDF, "application/pdf")
        part = {"type": "input_file", "file_url": f"{search.url}/files/tool.pdf"}
    tools_client.responses.create(
        model=MODEL,
        input=[
            {"role": "user", "content": "read the report"},
            {"type": "function_call", "call_id": "c_pdf", "name": "report", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c_pdf", "output": [part]},
        ],
    )
    sent = fake.last_request()["body"]["messages"][-1]
    assert sent["role"] == "tool"
    assert sent["content"].startswith('<file name="tool.pdf">\n[page 1]\nThe dice are loaded.')


def test_image_by_file_id_reaches_the_model_as_a_data_url(
    tools_client: openai.OpenAI, fake: FakeUpstream
) -> None:
    uploaded = tools_client.files.create(file=("dot.png", PNG, "image/png"), purpose="vision")
    ask(tools_client, {"type": "input_image", "file_id": uploaded.id, "detail": "low"})
    image = fake.last_request()["body"]["messages"][-1]["content"][0]
    assert image == {
        "type": "image_url",
        "image_url": {
            "url": "data:image/png;base64," + base64.b64encode(PNG).decode(),
            "detail": "low",
        },
    }


@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_file", "file_id": "file-doesnotexist"},
        {"type": "input_image", "file_id": "file-doesnotexist"},
        {"type": "input_file", "file_url": "http://127.0.0.1:9/missing.pdf"},
        {"type": "input_file", "file_id": "file-a", "file_data": "data:text/plain;base64,eA=="},
    ],
)
def test_a_file_that_cannot_be_had_is_a_400(
    tools_client: openai.OpenAI, part: dict[str, object]
) -> None:
    with pytest.raises(openai.BadRequestError):
        ask(tools_client, part)


def test_a_file_deleted_later_does_not_break_the_chain(
    tools_client: openai.OpenAI, fake: FakeUpstream
) -> None:
    uploaded = tools_client.files.create(file=("notes.pdf", PDF), purpose="user_data")
    first = ask(tools_client, {"type": "input_file", "file_id": uploaded.id})
    # Each turn resolves the history's files again (what a long history's passes keep
    # between turns is where files are named, never what they held).
    second = tools_client.responses.create(
        model=MODEL, input="and before?", previous_response_id=first.id
    )
    assert "[page 1]" in fake.last_request()["body"]["messages"][0]["content"]
    tools_client.files.delete(uploaded.id)

    third = tools_client.responses.create(
        model=MODEL, input="and now?", previous_response_id=second.id
    )
    assert third.status == "completed"
    history = fake.last_request()["body"]["messages"][0]["content"]
    assert history.startswith(f"[No such File object: {uploaded.id}]")


def test_files_of_kinds_a_model_cannot_read_are_refused_for_non_native_providers(
    tools_client: openai.OpenAI,
) -> None:
    uploaded = tools_client.files.create(
        file=("sheet.xlsx", b"PK\x03\x04 not really a spreadsheet"), purpose="user_data"
    )
    with pytest.raises(openai.BadRequestError) as raised:
        ask(tools_client, {"type": "input_file", "file_id": uploaded.id})
    assert "native_files" in raised.value.message


def test_file_content_is_a_download_never_a_page(
    tools_client: openai.OpenAI, tools_http: httpx.Client
) -> None:
    page = b"<html><script>alert(document.cookie)</script></html>"
    uploaded = tools_client.files.create(
        file=("été page.html", page, "text/html"), purpose="user_data"
    )
    served = tools_http.get(f"/v1/files/{uploaded.id}/content")
    assert served.status_code == 200 and served.content == page
    assert served.headers["content-type"] == "application/octet-stream"
    assert served.headers["x-content-type-options"] == "nosniff"
    disposition = served.headers["content-disposition"]
    assert disposition == (
        "attachment; filename=\"_t_ page.html\"; filename*=UTF-8''%C3%A9t%C3%A9%20page.html"
    )
