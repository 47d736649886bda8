"""Function calling: call → function_call_output → answer, streamed and not."""

from __future__ import annotations

import json

import openai
import pytest

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
    "strict": True,
}


def test_function_call_round_trip(client: openai.OpenAI, fake: FakeUpstream) -> None:
    first = client.responses.create(
        model=MODEL, input='call get_weather {"city": "Paris"}', tools=[WEATHER_TOOL]
    )
    assert first.status == "completed"
    call = first.output[0]
    assert call.type == "function_call"
    assert call.id.startswith("fc_") and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert fake.last_request()["body"]["tools"][0]["function"]["name"] == "get_weather"

    second = client.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"temp": 21}'}],
        tools=[WEATHER_TOOL],
    )
    assert second.output_text == 'tool said: {"temp": 21}'
    sent = fake.last_request()["body"]["messages"]
    assert sent[-2]["tool_calls"][0]["id"] == call.call_id
    assert sent[-1] == {"role": "tool", "tool_call_id": call.call_id, "content": '{"temp": 21}'}


def test_parallel_function_calls_are_separate_items(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model=MODEL,
        input='call2 get_weather {"city": "Paris"} ; get_weather {"city": "Rome"}',
        tools=[WEATHER_TOOL],
    )
    calls = [item for item in response.output if item.type == "function_call"]
    assert [json.loads(c.arguments)["city"] for c in calls] == ["Paris", "Rome"]
    assert len({c.call_id for c in calls}) == 2


def test_streamed_function_call_round_trip(client: openai.OpenAI) -> None:
    with client.responses.stream(
        model=MODEL, input='call get_weather {"city": "Oslo"}', tools=[WEATHER_TOOL]
    ) as stream:
        types = [event.type for event in stream]
        first = stream.get_final_response()
    assert "response.function_call_arguments.delta" in types
    assert "response.function_call_arguments.done" in types
    assert "response.content_part.added" not in types
    call = first.output[0]
    assert call.type == "function_call" and json.loads(call.arguments) == {"city": "Oslo"}

    with client.responses.stream(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=[WEATHER_TOOL],
    ) as stream:
        second = stream.get_final_response()
    assert second.output_text == "tool said: sunny"


def test_unanswered_function_call_is_refused(client: openai.OpenAI) -> None:
    first = client.responses.create(
        model=MODEL, input='call get_weather {"city": "Paris"}', tools=[WEATHER_TOOL]
    )
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, previous_response_id=first.id, input="what now?")
    assert "No tool output found" in caught.value.message


def test_output_for_an_unknown_call_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(
            model=MODEL,
            input=[{"type": "function_call_output", "call_id": "call_nope", "output": "x"}],
        )
    assert "call_nope" in caught.value.message


def test_tool_choice_and_parallel_flag_reach_the_model(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    client.responses.create(
        model=MODEL,
        input="hi",
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "name": "get_weather"},
        parallel_tool_calls=False,
    )
    body = fake.last_request()["body"]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False


def test_stateless_replay_of_a_call_and_its_output(client: openai.OpenAI) -> None:
    """Clients that keep their own history send the call and its output back in `input`."""
    first = client.responses.create(
        model=MODEL, input='call get_weather {"city": "Paris"}', tools=[WEATHER_TOOL], store=False
    )
    call = first.output[0]
    replay = [
        {"role": "user", "content": 'call get_weather {"city": "Paris"}'},
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "rainy"},
    ]
    second = client.responses.create(model=MODEL, input=replay, tools=[WEATHER_TOOL])
    assert second.output_text == "tool said: rainy"


CHART_URL = "https://example.com/chart.png"


def test_images_in_a_function_call_output_reach_the_model(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    first = client.responses.create(
        model=MODEL,
        input='call2 get_weather {"city": "Paris"} ; get_weather {"city": "Rome"}',
        tools=[WEATHER_TOOL],
    )
    paris, rome = (item for item in first.output if item.type == "function_call")
    client.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[
            {
                "type": "function_call_output",
                "call_id": paris.call_id,
                "output": [
                    {"type": "input_text", "text": "sunny, see the chart"},
                    {"type": "input_image", "image_url": CHART_URL, "detail": "low"},
                ],
            },
            {"type": "function_call_output", "call_id": rome.call_id, "output": "rainy"},
        ],
        tools=[WEATHER_TOOL],
    )
    sent = fake.last_request()["body"]["messages"]
    # Both tool answers follow their calls at once; the image comes after them, in a user
    # message that names its call.
    assert [m["role"] for m in sent[-4:]] == ["assistant", "tool", "tool", "user"]
    assert sent[-3]["tool_call_id"] == paris.call_id
    assert sent[-3]["content"].startswith("sunny, see the chart\n")
    assert sent[-2] == {"role": "tool", "tool_call_id": rome.call_id, "content": "rainy"}
    note, image = sent[-1]["content"]
    assert paris.call_id in note["text"]
    assert image == {"type": "image_url", "image_url": {"url": CHART_URL, "detail": "low"}}


def test_an_image_only_function_call_output_reaches_the_model(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    client.responses.create(
        model=MODEL,
        input=[
            {"role": "user", "content": "show me"},
            {"type": "function_call", "call_id": "c_img", "name": "snap", "arguments": "{}"},
            {
                "type": "function_call_output",
                "call_id": "c_img",
                "output": [{"type": "input_image", "image_url": CHART_URL}],
            },
        ],
    )
    sent = fake.last_request()["body"]["messages"]
    assert sent[-2]["role"] == "tool" and "c_img" in sent[-2]["content"]
    assert sent[-1]["content"][1]["image_url"]["url"] == CHART_URL
