"""Every error is OpenAI's envelope with the right status, type, code and param."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import MODEL


def assert_envelope(
    response: httpx.Response, status: int, *, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    return dict(error)


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"model": MODEL, "input": "x", "temperature": "hot"}, "invalid_type", "temperature"),
        ({"model": MODEL, "input": "x", "store": "yes"}, "invalid_type", "store"),
        ({"model": MODEL, "input": "x", "stream": 1}, "invalid_type", "stream"),
        ({"model": MODEL, "input": "x", "top_p": "0.5"}, "invalid_type", "top_p"),
        (
            {"model": MODEL, "input": "x", "max_output_tokens": 100.5},
            "invalid_type",
            "max_output_tokens",
        ),
        (
            {"model": MODEL, "input": "x", "temperature": 3},
            "decimal_above_max_value",
            "temperature",
        ),
        (
            {"model": MODEL, "input": "x", "max_output_tokens": 8},
            "integer_below_min_value",
            "max_output_tokens",
        ),
        (
            {"model": MODEL, "input": "x", "presence_penalty": 2.5},
            "decimal_above_max_value",
            "presence_penalty",
        ),
        (
            {"model": MODEL, "input": "x", "frequency_penalty": -2.1},
            "decimal_below_min_value",
            "frequency_penalty",
        ),
        ({"model": MODEL, "input": "x", "bogus": 1}, "unknown_parameter", "bogus"),
        ({"input": "x"}, "missing_required_parameter", "model"),
        (
            {"model": MODEL, "input": [{"role": "user"}]},
            "missing_required_parameter",
            "input[0].content",
        ),
        (
            {"model": MODEL, "input": [{"role": "robot", "content": "x"}]},
            "invalid_value",
            "input[0].role",
        ),
        (
            {"model": MODEL, "input": [{"type": "computer_call", "id": "cu_1"}]},
            "invalid_value",
            "input[0]",
        ),
        (
            {"model": MODEL, "input": [{"role": "user", "content": [{"type": "input_video"}]}]},
            "invalid_value",
            "input[0].content[0]",
        ),
        (
            {"model": MODEL, "input": "x", "tools": [{"type": "web_search"}]},
            "unsupported_parameter",
            "tools[0].type",
        ),
        ({"model": MODEL, "input": "x", "background": True, "store": False}, None, "store"),
        (
            {"model": MODEL, "input": "x", "metadata": {f"k{i}": "v" for i in range(17)}},
            "object_above_max_properties",
            "metadata",
        ),
        (
            {"model": MODEL, "input": "x", "metadata": {"k": "v" * 513}},
            "string_above_max_length",
            "metadata.k",
        ),
        (
            {"model": MODEL, "input": "x", "previous_response_id": "resp_nope"},
            "previous_response_not_found",
            "previous_response_id",
        ),
        (
            {
                "model": MODEL,
                "input": "x",
                "text": {"format": {"type": "json_schema", "name": "a"}},
            },
            "missing_required_parameter",
            "text.format.schema",
        ),
        (
            {"model": MODEL, "input": "x", "tool_choice": {"type": "function", "name": "nope"}},
            None,
            "tool_choice",
        ),
    ],
)
def test_bad_requests_get_400_naming_the_parameter(
    http: httpx.Client, body: dict[str, Any], code: str | None, param: str
) -> None:
    error = assert_envelope(http.post("/v1/responses", json=body), 400, code=code, param=param)
    assert error["type"] == "invalid_request_error"


def test_invalid_json_body_is_a_400(http: httpx.Client) -> None:
    response = http.post(
        "/v1/responses", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_envelope(response, 400, code="invalid_json")


def test_body_that_is_not_an_object_is_a_400(http: httpx.Client) -> None:
    assert_envelope(http.post("/v1/responses", json=[1, 2]), 400)


def test_unknown_response_id_is_a_404(http: httpx.Client) -> None:
    for method, path in (
        ("GET", "/v1/responses/resp_nope"),
        ("DELETE", "/v1/responses/resp_nope"),
        ("GET", "/v1/responses/resp_nope/input_items"),
    ):
        error = assert_envelope(http.request(method, path), 404)
        assert "resp_nope" in error["message"]


def test_unknown_route_is_a_404_envelope(http: httpx.Client) -> None:
    assert_envelope(http.get("/v1/nothing-here"), 404)


def test_bad_list_query_is_a_400(http: httpx.Client, client: openai.OpenAI) -> None:
    created = client.responses.create(model=MODEL, input="x")
    assert_envelope(
        http.get(f"/v1/responses/{created.id}/input_items", params={"limit": 0}), 400, param="limit"
    )
    assert_envelope(
        http.get(f"/v1/responses/{created.id}/input_items", params={"order": "up"}),
        400,
        param="order",
    )
    assert_envelope(
        http.get(f"/v1/responses/{created.id}/input_items", params={"after": "msg_nope"}),
        400,
        param="after",
    )


def test_upstream_server_error_is_a_502_and_the_response_is_stored_failed(
    http: httpx.Client,
) -> None:
    error = assert_envelope(
        http.post("/v1/responses", json={"model": MODEL, "input": "fail 500"}), 502
    )
    assert "500" in error["message"]


def test_upstream_rate_limit_is_a_429(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.responses.create(model=MODEL, input="fail 429")
    assert caught.value.code == "rate_limit_exceeded"


def test_upstream_bad_request_is_passed_on_as_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, input="fail 400")
    assert "fake upstream failure 400" in caught.value.message


@pytest.mark.parametrize(
    ("directive", "code"),
    [
        ("fail 400", "invalid_prompt"),
        ("fail 429", "rate_limit_exceeded"),
        ("reset", "server_error"),
    ],
)
def test_a_failed_response_carries_an_error_code_of_the_spec(
    http: httpx.Client, directive: str, code: str
) -> None:
    """Threadline's finer codes (`upstream_error`, …) stay in HTTP error envelopes; a Response's
    `error.code` is one of OpenAI's `ResponseErrorCode` values."""
    with http.stream(
        "POST", "/v1/responses", json={"model": MODEL, "input": directive, "stream": True}
    ) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    failed = json.loads(lines[-1][len("data: ") :])
    assert failed["type"] == "response.failed"
    assert failed["response"]["error"]["code"] == code
    stored = http.get(f"/v1/responses/{failed['response']['id']}").json()
    assert stored["error"]["code"] == code


def test_unknown_upstream_model_is_a_404_model_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="missing-model", input="x")
    assert caught.value.code == "model_not_found"


def test_malformed_upstream_stream_is_a_502(http: httpx.Client) -> None:
    assert_envelope(http.post("/v1/responses", json={"model": MODEL, "input": "garbage"}), 502)


def test_cancel_of_a_foreground_response_is_refused(
    http: httpx.Client, client: openai.OpenAI
) -> None:
    created = client.responses.create(model=MODEL, input="x")
    assert_envelope(http.post(f"/v1/responses/{created.id}/cancel"), 400)
    assert_envelope(http.post("/v1/responses/resp_nope/cancel"), 404)
