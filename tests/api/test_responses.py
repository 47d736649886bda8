"""POST/GET/DELETE /v1/responses and input items, through the official openai SDK."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.spec import require_specs, validate_response


def _sent_messages(fake: FakeUpstream) -> list[tuple[str, str]]:
    return [(m["role"], m.get("content") or "") for m in fake.last_request()["body"]["messages"]]


def test_text_turn_returns_a_completed_response(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="hello there")

    assert response.id.startswith("resp_")
    assert response.object == "response"
    assert response.status == "completed"
    assert response.output_text == "echo: hello there"
    message = response.output[0]
    assert message.type == "message" and message.id.startswith("msg_")
    assert response.usage is not None
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert response.model == MODEL
    assert response.store is True if hasattr(response, "store") else True


def test_response_object_matches_both_specs(http: httpx.Client) -> None:
    require_specs()
    for body in (
        {"model": MODEL, "input": "schema check", "metadata": {"k": "v"}},
        {"model": MODEL, "input": "x", "user": "u", "safety_identifier": "s", "temperature": 1},
    ):
        created = http.post("/v1/responses", json=body).json()
        validate_response(created)
        validate_response(http.get(f"/v1/responses/{created['id']}").json())


def test_request_settings_are_echoed(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model=MODEL,
        input="hi",
        temperature=0.2,
        top_p=0.9,
        max_output_tokens=100,
        metadata={"user": "u1"},
        instructions="Be terse.",
        user="end-user-7",
    )
    assert (response.temperature, response.top_p, response.max_output_tokens) == (0.2, 0.9, 100)
    assert response.metadata == {"user": "u1"}
    assert response.instructions == "Be terse."
    assert response.user == "end-user-7"


def test_unset_sampling_settings_are_echoed_as_their_effective_defaults(
    http: httpx.Client,
) -> None:
    created = http.post("/v1/responses", json={"model": MODEL, "input": "defaults"}).json()
    for stored in (created, http.get(f"/v1/responses/{created['id']}").json()):
        assert stored["temperature"] == 1 and stored["top_p"] == 1
        assert stored["top_logprobs"] == 0
        assert stored["presence_penalty"] == 0 and stored["frequency_penalty"] == 0
        assert stored["safety_identifier"] is None and stored["prompt_cache_key"] is None


def test_penalties_are_forwarded_and_echoed(http: httpx.Client, fake: FakeUpstream) -> None:
    body = {"model": MODEL, "input": "hi", "presence_penalty": 0.5, "frequency_penalty": -1.5}
    created = http.post("/v1/responses", json=body).json()
    sent = fake.last_request()["body"]
    assert (sent["presence_penalty"], sent["frequency_penalty"]) == (0.5, -1.5)
    stored = http.get(f"/v1/responses/{created['id']}").json()
    for echoed in (created, stored):
        assert (echoed["presence_penalty"], echoed["frequency_penalty"]) == (0.5, -1.5)


def test_settings_reach_the_model(client: openai.OpenAI, fake: FakeUpstream) -> None:
    client.responses.create(model=MODEL, input="hi", temperature=0.3, max_output_tokens=64)
    body = fake.last_request()["body"]
    assert body["temperature"] == 0.3
    assert body["max_tokens"] == 64
    assert "presence_penalty" not in body and "frequency_penalty" not in body
    assert fake.last_request()["headers"]["authorization"] == "Bearer upstream-secret"


def test_three_turn_chain_sends_the_whole_history_to_the_model(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    first = client.responses.create(model=MODEL, input="one")
    second = client.responses.create(model=MODEL, input="two", previous_response_id=first.id)
    third = client.responses.create(model=MODEL, input="three", previous_response_id=second.id)

    assert third.previous_response_id == second.id
    assert _sent_messages(fake) == [
        ("user", "one"),
        ("assistant", "echo: one"),
        ("user", "two"),
        ("assistant", "echo: two"),
        ("user", "three"),
    ]


def test_a_fork_shares_history_up_to_the_fork_point(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    root = client.responses.create(model=MODEL, input="root")
    client.responses.create(model=MODEL, input="left", previous_response_id=root.id)
    client.responses.create(model=MODEL, input="right", previous_response_id=root.id)
    assert _sent_messages(fake) == [
        ("user", "root"),
        ("assistant", "echo: root"),
        ("user", "right"),
    ]


def test_instructions_are_not_carried_to_later_turns(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    first = client.responses.create(model=MODEL, input="a", instructions="You are a pirate.")
    assert fake.last_request()["body"]["messages"][0] == {
        "role": "system",
        "content": "You are a pirate.",
    }

    client.responses.create(model=MODEL, input="b", previous_response_id=first.id)
    roles = [m["role"] for m in fake.last_request()["body"]["messages"]]
    assert "system" not in roles


def test_a_refusal_reads_back_and_is_replayed_on_the_next_turn(
    http: httpx.Client, fake: FakeUpstream
) -> None:
    created = http.post("/v1/responses", json={"model": MODEL, "input": "refuse Not that."})
    refused = created.json()
    refusal = {"type": "refusal", "refusal": "Not that."}
    assert refused["status"] == "completed"
    assert refused["output"][0]["role"] == "assistant"
    assert refused["output"][0]["content"] == [refusal]
    assert http.get(f"/v1/responses/{refused['id']}").json()["output"][0]["content"] == [refusal]

    body = {"model": MODEL, "input": "and now?", "previous_response_id": refused["id"]}
    http.post("/v1/responses", json=body)
    assert _sent_messages(fake)[-2:] == [("assistant", "Not that."), ("user", "and now?")]


def test_retrieve_returns_the_stored_response(client: openai.OpenAI) -> None:
    created = client.responses.create(model=MODEL, input="keep me")
    fetched = client.responses.retrieve(created.id)
    assert fetched.model_dump() == created.model_dump()


def test_deleted_response_is_gone_and_cannot_be_continued(client: openai.OpenAI) -> None:
    created = client.responses.create(model=MODEL, input="delete me")
    client.responses.delete(created.id)

    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, input="more", previous_response_id=created.id)
    assert caught.value.code == "previous_response_not_found"


def test_store_false_responses_are_not_kept(client: openai.OpenAI) -> None:
    created = client.responses.create(model=MODEL, input="forget me", store=False)
    assert created.status == "completed"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, input="again", previous_response_id=created.id)
    assert caught.value.param == "previous_response_id"


def test_input_items_paginate_in_both_orders(client: openai.OpenAI) -> None:
    words = [f"w{i}" for i in range(7)]
    created = client.responses.create(
        model=MODEL, input=[{"role": "user", "content": w} for w in words]
    )

    asc = client.responses.input_items.list(created.id, order="asc", limit=3)
    assert [i.content[0].text for i in asc.data] == words[:3]
    assert asc.has_more is True
    assert [i.content[0].text for i in asc] == words  # the SDK follows `after` cursors

    desc = client.responses.input_items.list(created.id, limit=2)  # default order: desc
    assert [i.content[0].text for i in desc.data] == ["w6", "w5"]
    assert desc.first_id == desc.data[0].id and desc.last_id == desc.data[-1].id
    assert [i.content[0].text for i in desc] == words[::-1]


def test_input_items_of_a_chain_turn_are_only_that_turns_input(client: openai.OpenAI) -> None:
    first = client.responses.create(model=MODEL, input="first")
    second = client.responses.create(model=MODEL, input="second", previous_response_id=first.id)
    items = client.responses.input_items.list(second.id)
    assert [i.content[0].text for i in items.data] == ["second"]


def test_max_output_tokens_cut_ends_incomplete(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="long 40", max_output_tokens=16)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text == " ".join(f"w{i}" for i in range(1, 17))
    assert response.output[0].status == "incomplete"


def test_image_input_reaches_the_model_as_an_image_part(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    client.responses.create(
        model=MODEL,
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "what is this?"},
                    {"type": "input_image", "image_url": image, "detail": "low"},
                ],
            }
        ],
    )
    content = fake.last_request()["body"]["messages"][-1]["content"]
    assert content == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": image, "detail": "low"}},
    ]


def test_text_file_input_is_given_to_the_model_as_text(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    import base64

    data = base64.b64encode(b"the secret word is plum").decode()
    client.responses.create(
        model=MODEL,
        input=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "input_file",
                        "filename": "notes.txt",
                        "file_data": f"data:text/plain;base64,{data}",
                    },
                    {"type": "input_text", "text": "what is the word?"},
                ],
            }
        ],
    )
    content = fake.last_request()["body"]["messages"][-1]["content"]
    assert "the secret word is plum" in content


def test_item_reference_brings_a_stored_item_into_the_context(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    earlier = client.responses.create(model=MODEL, input="remember this")
    message_id = earlier.output[0].id
    client.responses.create(
        model=MODEL,
        input=[{"type": "item_reference", "id": message_id}, {"role": "user", "content": "and?"}],
    )
    assert _sent_messages(fake) == [("assistant", "echo: remember this"), ("user", "and?")]


def test_models_lists_the_providers_models(client: openai.OpenAI) -> None:
    names = [m.id for m in client.models.list()]
    assert "fake-model" in names


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"model": MODEL, "input": ""}, "empty_string"),
        ({"model": MODEL, "input": []}, "empty_array"),
        ({"model": MODEL}, "missing_required_parameter"),
    ],
)
def test_a_turn_with_nothing_to_send_is_refused_naming_input(
    http: httpx.Client, body: dict[str, object], code: str
) -> None:
    response = http.post("/v1/responses", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("input", code)
    assert "nothing to send" in error["message"]


def test_an_empty_input_is_accepted_after_history_or_with_instructions(
    client: openai.OpenAI,
) -> None:
    first = client.responses.create(model=MODEL, input="hello")
    assert client.responses.create(model=MODEL, input=[], previous_response_id=first.id).id
    assert client.responses.create(model=MODEL, input=[], instructions="Say hi.").id
