"""The HTTP edge: query arrays in either form, bodies whatever their Content-Type, unknown
routes and methods, WebSocket handshakes, and the request id on every answer."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx
import openai
import pytest

from tests.api.test_errors import assert_envelope
from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer

IMAGE = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "hQGAhKmMIQAAAABJRU5ErkJggg=="
)
IMAGE_URL = "message.input_image.image_url"


def _image_message() -> dict[str, object]:
    return {
        "role": "user",
        "content": [
            {"type": "input_text", "text": "what is this?"},
            {"type": "input_image", "image_url": IMAGE, "detail": "low"},
        ],
    }


def test_the_sdk_lists_conversation_items_with_include(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(items=[_image_message()])  # type: ignore[list-item]
    page = client.conversations.items.list(conversation.id, include=[IMAGE_URL])
    (item,) = page.data
    assert item.model_dump()["content"][1]["image_url"] == IMAGE
    retrieved = client.conversations.items.retrieve(
        item.id, conversation_id=conversation.id, include=[IMAGE_URL]
    )
    assert retrieved.id == item.id


def test_the_sdk_lists_input_items_with_include(client: openai.OpenAI) -> None:
    created = client.responses.create(model=MODEL, input=[_image_message()])  # type: ignore[list-item]
    page = client.responses.input_items.list(created.id, include=[IMAGE_URL])
    assert page.data[0].model_dump()["content"][1]["image_url"] == IMAGE
    assert client.responses.retrieve(created.id, include=[IMAGE_URL]).id == created.id


@pytest.mark.parametrize("name", ["include", "include[]"])
def test_include_is_read_in_the_bracket_and_the_plain_form(
    http: httpx.Client, client: openai.OpenAI, name: str
) -> None:
    created = client.responses.create(model=MODEL, input="x")
    for path in (f"/v1/responses/{created.id}", f"/v1/responses/{created.id}/input_items"):
        assert http.get(path, params={name: IMAGE_URL}).status_code == 200
        assert_envelope(http.get(path, params={name: "everything"}), 400, param="include[0]")
        unsupported = http.get(path, params={name: "message.output_text.logprobs"})
        assert_envelope(unsupported, 400, code="unsupported_parameter", param="include")


@pytest.mark.parametrize(
    ("params", "param"),
    [({"stream": "true"}, "stream"), ({"starting_after": "3"}, "starting_after")],
)
def test_stream_resume_parameters_of_a_foreground_retrieve_are_refused_by_name(
    http: httpx.Client, client: openai.OpenAI, params: dict[str, str], param: str
) -> None:
    created = client.responses.create(model=MODEL, input="x")
    response = http.get(f"/v1/responses/{created.id}", params=params)
    assert_envelope(response, 400, param=param)


def test_include_obfuscation_is_accepted_and_changes_nothing(
    http: httpx.Client, client: openai.OpenAI
) -> None:
    created = client.responses.create(model=MODEL, input="x")
    response = http.get(f"/v1/responses/{created.id}", params={"include_obfuscation": "false"})
    assert response.status_code == 200 and response.json()["id"] == created.id


def test_a_json_body_is_read_whatever_its_content_type(http: httpx.Client) -> None:
    body = b'{"model": "fake-model", "input": "hello"}'
    for headers in (
        {"content-type": "application/x-www-form-urlencoded"},
        {"content-type": "text/plain"},
        {},
    ):
        response = http.post("/v1/responses", content=body, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "completed"


def test_an_unknown_url_is_a_404_envelope_naming_it(http: httpx.Client) -> None:
    error = assert_envelope(http.get("/v1/nothing-here"), 404, code="unknown_url")
    assert "GET /v1/nothing-here" in error["message"]


def test_a_method_an_endpoint_does_not_take_is_a_405_envelope(http: httpx.Client) -> None:
    response = http.put("/v1/responses")
    error = assert_envelope(response, 405, code="method_not_allowed")
    assert "POST" in error["message"] and response.headers["allow"] == "POST"


def _websocket_handshake(server: LiveServer, path: str) -> tuple[int, dict[str, str], str]:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request.encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.decode().partition("\r\n\r\n")
    status_line, *header_lines = head.split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


def test_a_websocket_handshake_is_answered_with_an_envelope(server: LiveServer) -> None:
    status, headers, body = _websocket_handshake(server, "/v1/responses")
    assert status == 404 and headers["content-type"] == "application/json"
    assert '"code":"unsupported_endpoint"' in body and "WebSocket mode" in body
    assert headers["x-request-id"].startswith("req_")
    status, _, body = _websocket_handshake(server, "/v1/elsewhere")
    assert status == 404 and '"code":"unknown_url"' in body


def test_every_answer_carries_a_request_id(http: httpx.Client) -> None:
    answers = [
        http.get("/healthz"),
        http.post("/v1/responses", json={"model": MODEL, "input": "x"}),
        http.post("/v1/responses", json={"model": MODEL, "input": "x", "stream": True}),
        http.post("/v1/responses", json={"model": MODEL}),
        http.get("/v1/nothing-here"),
        http.delete("/v1/models"),
        http.get("/v1/responses/resp_nope"),
    ]
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert all(re.fullmatch(r"req_[0-9a-f]{32}", i) for i in ids), ids
    assert len(set(ids)) == len(ids)


def test_a_plain_request_id_from_the_caller_is_kept_and_any_other_replaced(
    http: httpx.Client,
) -> None:
    for header in ("X-Request-Id", "X-Client-Request-Id"):
        kept = http.get("/healthz", headers={header: "trace-42.a:b"})
        assert kept.headers["x-request-id"] == "trace-42.a:b"
    for hostile in ("x" * 200, "has space", "semi;colon"):
        replaced = http.get("/healthz", headers={"X-Request-Id": hostile})
        assert replaced.headers["x-request-id"].startswith("req_")


def test_the_access_log_names_each_request_id(fake: FakeUpstream, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with LiveServer(
        str(tmp_path / "t.db"), fake.base_url, log_path=log, log_level="info"
    ) as server:
        answer = httpx.post(f"{server.base_url}/responses", json={"model": MODEL, "input": "x"})
        refused = httpx.get(f"{server.url}/v1/nothing-here")
    for response in (answer, refused):
        request_id = response.headers["x-request-id"]
        (line,) = [line for line in log.read_text().splitlines() if request_id in line]
        assert str(response.status_code) in line
