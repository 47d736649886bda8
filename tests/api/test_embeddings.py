"""`POST /v1/embeddings` through the official SDK: vectors from the model's provider, in input
order, as floats or base64, with the dimensions asked; bad input is a 400 naming it."""

from __future__ import annotations

import base64
import struct

import httpx
import openai
import pytest

from tests.conftest import MODEL
from tests.fake_embeddings import fake_vector
from tests.fake_upstream import FakeUpstream


def test_texts_are_embedded_in_input_order(client: openai.OpenAI, fake: FakeUpstream) -> None:
    result = client.embeddings.create(model=MODEL, input=["first text", "second"])
    assert result.object == "list" and result.model == MODEL
    assert [d.index for d in result.data] == [0, 1]
    assert result.data[0].embedding == pytest.approx(fake_vector("first text"))
    assert result.data[1].embedding == pytest.approx(fake_vector("second"))
    assert result.usage.prompt_tokens == 3
    sent = fake.last_request()["body"]
    assert sent["input"] == ["first text", "second"] and sent["encoding_format"] == "float"


def test_dimensions_and_base64_are_honoured(http: httpx.Client) -> None:
    answer = http.post(
        "/v1/embeddings",
        json={"model": MODEL, "input": "one", "dimensions": 4, "encoding_format": "base64"},
    )
    assert answer.status_code == 200, answer.text
    packed = base64.b64decode(answer.json()["data"][0]["embedding"])
    assert list(struct.unpack("<4f", packed)) == pytest.approx(fake_vector("one", 4), rel=1e-6)


def test_the_sdks_default_base64_round_trips(client: openai.OpenAI) -> None:
    # The SDK asks for base64 unless told otherwise, and decodes it itself.
    result = client.embeddings.create(model=MODEL, input="decoded by the sdk")
    assert result.data[0].embedding == pytest.approx(fake_vector("decoded by the sdk"), rel=1e-6)


def test_token_lists_are_passed_as_given(client: openai.OpenAI, fake: FakeUpstream) -> None:
    client.embeddings.create(model=MODEL, input=[[1, 2, 3], [4]])
    assert fake.last_request()["body"]["input"] == [[1, 2, 3], [4]]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": MODEL, "input": []}, "input"),
        ({"model": MODEL, "input": ["a", ""]}, "input[1]"),
        ({"model": MODEL, "input": "a", "dimensions": 0}, "dimensions"),
        ({"model": MODEL, "input": "a", "encoding_format": "hex"}, "encoding_format"),
        ({"model": MODEL, "input": "a", "dimensions": 10**9}, "dimensions"),
        ({"model": MODEL, "input": ["a"] * 2049}, "input"),
        ({"model": MODEL, "input": [[1]] * 2049}, "input"),
    ],
)
def test_bad_input_is_a_400_naming_it(
    http: httpx.Client, body: dict[str, object], param: str
) -> None:
    answer = http.post("/v1/embeddings", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == param


def test_an_unknown_model_is_a_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="missing-model", input="x")
