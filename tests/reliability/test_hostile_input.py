"""Hostile input: every malformed request is a 4xx in OpenAI's shape, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.test_errors import assert_envelope
from tests.conftest import MODEL, SMALL_BODY_LIMIT
from tests.live_server import LiveServer
from threadline.api.json_depth import MAX_JSON_DEPTH


def test_oversized_body_is_a_413(small_body_server: LiveServer) -> None:
    body = {"model": MODEL, "input": "x" * (SMALL_BODY_LIMIT + 1)}
    response = httpx.post(f"{small_body_server.base_url}/responses", json=body)
    assert_envelope(response, 413, code="payload_too_large")


def test_oversized_chunked_body_is_a_413(small_body_server: LiveServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "fake-model", "input": "'
        for _ in range(SMALL_BODY_LIMIT // 1024 + 2):
            yield b"y" * 1024
        yield b'"}'

    response = httpx.post(
        f"{small_body_server.base_url}/responses",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert_envelope(response, 413, code="payload_too_large")


def test_deeply_nested_json_is_a_400(http: httpx.Client) -> None:
    depth = 100_000
    body = b'{"model": "fake-model", "input": ' + b"[" * depth + b"]" * depth + b"}"
    response = http.post(
        "/v1/responses", content=body, headers={"content-type": "application/json"}
    )
    assert_envelope(response, 400)


def _tool_nested(depth: int, *, stream: bool) -> dict[str, Any]:
    """A body `depth` levels deep: the body, `tools`, the tool, then its `parameters`."""
    parameters: dict[str, Any] = {}
    for _ in range(depth - 4):
        parameters = {"a": parameters}
    tool = {"type": "function", "name": "f", "parameters": parameters}
    return {"model": MODEL, "input": "x", "stream": stream, "tools": [tool]}


@pytest.mark.parametrize("stream", [False, True])
def test_the_deepest_accepted_body_round_trips_and_one_level_more_is_a_400(
    http: httpx.Client, stream: bool
) -> None:
    accepted = http.post("/v1/responses", json=_tool_nested(MAX_JSON_DEPTH, stream=stream))
    assert accepted.status_code == 200, accepted.text
    if stream:
        assert accepted.text.count("event: ") > 3 and "response.completed" in accepted.text
        response_id = accepted.text.split('"id":"', 1)[1].split('"', 1)[0]
    else:
        response_id = accepted.json()["id"]
    echoed = http.get(f"/v1/responses/{response_id}")
    assert echoed.status_code == 200 and echoed.json()["tools"][0]["parameters"]
    refused = http.post("/v1/responses", json=_tool_nested(MAX_JSON_DEPTH + 1, stream=stream))
    error = assert_envelope(refused, 400, code="invalid_json")
    assert str(MAX_JSON_DEPTH) in error["message"]


def test_invalid_utf8_is_a_400(http: httpx.Client) -> None:
    body = b'{"model": "fake-model", "input": "\xff\xfe bad"}'
    response = http.post(
        "/v1/responses", content=body, headers={"content-type": "application/json"}
    )
    assert_envelope(response, 400)


def test_huge_metadata_is_a_400_naming_metadata(http: httpx.Client) -> None:
    metadata = {f"key{i}": "v" * 100 for i in range(1000)}
    for path in ("/v1/responses", "/v1/conversations"):
        body = (
            {"model": MODEL, "input": "x", "metadata": metadata}
            if "responses" in path
            else {"metadata": metadata}
        )
        assert_envelope(http.post(path, json=body), 400, param="metadata")


def test_wrong_content_type_is_a_400(http: httpx.Client) -> None:
    response = http.post(
        "/v1/responses", content=b"model=x", headers={"content-type": "text/plain"}
    )
    assert response.status_code in (400, 415)
    assert set(response.json()) == {"error"}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
RESPONSE_KEYS = [
    "model",
    "input",
    "instructions",
    "previous_response_id",
    "conversation",
    "store",
    "tools",
    "tool_choice",
    "text",
    "temperature",
    "top_p",
    "max_output_tokens",
    "metadata",
    "include",
    "parallel_tool_calls",
    "truncation",
    "user",
    "reasoning",
    "stream",
]
item_like = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["message", "function_call", "function_call_output", "item_reference", "x"]
        )
    },
    optional={
        "role": st.sampled_from(["user", "assistant", "tool", 3]),
        "content": json_values,
        "call_id": json_values,
        "id": json_values,
        "output": json_values,
        "name": json_values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.dictionaries(
        st.sampled_from(RESPONSE_KEYS), json_values | st.lists(item_like, max_size=3), max_size=6
    )
)
def test_random_response_bodies_never_cause_a_server_error(
    http: httpx.Client, body: dict[str, Any]
) -> None:
    body.setdefault("model", MODEL)
    body["stream"] = False
    response = http.post("/v1/responses", json=body)
    assert response.status_code < 500 or response.json()["error"]["type"] == "upstream_error", (
        response.text
    )
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.dictionaries(
        st.sampled_from(["items", "metadata"]), json_values | st.lists(item_like, max_size=3)
    )
)
def test_random_conversation_bodies_never_cause_a_server_error(
    http: httpx.Client, body: dict[str, Any]
) -> None:
    response = http.post("/v1/conversations", json=body)
    assert response.status_code < 500, response.text


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(segment=st.text(min_size=1, max_size=40))
def test_ids_that_are_not_ours_are_404(http: httpx.Client, segment: str) -> None:
    segment = quote(segment, safe="")
    if segment in (".", ".."):
        return
    for path in (
        f"/v1/responses/{segment}",
        f"/v1/conversations/{segment}",
        f"/v1/conversations/{segment}/items",
        f"/v1/responses/{segment}/input_items",
    ):
        response = http.get(path)
        assert response.status_code == 404, (path, response.text)
