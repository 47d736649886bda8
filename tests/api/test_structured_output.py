"""text.format: json_schema (strict) and json_object."""

from __future__ import annotations

import json

import openai
from pydantic import BaseModel

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream


class Weather(BaseModel):
    city: str
    temperature: int


def test_json_schema_format_is_sent_to_the_model_and_echoed(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "temperature": {"type": "integer"}},
        "required": ["city", "temperature"],
        "additionalProperties": False,
    }
    response = client.responses.create(
        model=MODEL,
        input="weather in Paris",
        text={
            "format": {"type": "json_schema", "name": "weather", "schema": schema, "strict": True}
        },
    )
    assert json.loads(response.output_text) == {"city": "x", "temperature": 1}
    sent = fake.last_request()["body"]["response_format"]
    assert sent == {
        "type": "json_schema",
        "json_schema": {"name": "weather", "schema": schema, "strict": True},
    }
    assert response.text.format.type == "json_schema"


def test_sdk_parse_helper_returns_the_parsed_model(client: openai.OpenAI) -> None:
    parsed = client.responses.parse(model=MODEL, input="weather", text_format=Weather)
    assert parsed.output_parsed == Weather(city="x", temperature=1)


def test_json_object_format(client: openai.OpenAI, fake: FakeUpstream) -> None:
    response = client.responses.create(
        model=MODEL, input="give json", text={"format": {"type": "json_object"}}
    )
    assert json.loads(response.output_text) == {"echo": "give json"}
    assert fake.last_request()["body"]["response_format"] == {"type": "json_object"}
