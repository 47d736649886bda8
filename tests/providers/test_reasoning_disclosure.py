"""A provider's sealed reasoning leaves the server only when asked for: with
`include: ["reasoning.encrypted_content"]` on the create, the retrieve or the item lists, or
always for a turn that is not stored (its client carries the reasoning itself). A stored turn
replays it to the provider either way."""

from __future__ import annotations

import openai
import pytest

from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer

SEALS = "reasoning.encrypted_content"
MODEL = "oai/fake-model"


@pytest.fixture
def kinds(kinds_server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=kinds_server.base_url, api_key="any", max_retries=0)


def _seals(items: list[object]) -> list[str | None]:
    """The `encrypted_content` of each reasoning item."""
    return [getattr(item, "encrypted_content", None) for item in items if item.type == "reasoning"]  # type: ignore[attr-defined]


def test_stored_reasoning_is_shown_sealed_only_when_asked_for(
    kinds: openai.OpenAI, fake: FakeUpstream
) -> None:
    plain = kinds.responses.create(model=MODEL, input="reason quietly")
    assert _seals(plain.output) == [None]
    assert _seals(kinds.responses.retrieve(plain.id).output) == [None]
    (shown,) = _seals(kinds.responses.retrieve(plain.id, include=[SEALS]).output)
    assert shown is not None and shown.startswith("tl1:")
    asked = kinds.responses.create(model=MODEL, input="reason openly", include=[SEALS])
    (sealed,) = _seals(asked.output)
    assert sealed is not None and sealed.startswith("tl1:") and "openly" not in sealed
    # Not shown is still kept: the next turn replays it to the provider.
    kinds.responses.create(model=MODEL, previous_response_id=plain.id, input="next")
    sent = [i for i in fake.last_request()["body"]["input"] if i["type"] == "reasoning"]
    assert [item["encrypted_content"] for item in sent] == ["enc:quietly"]


def test_a_stream_shows_sealed_reasoning_only_when_asked_for(kinds: openai.OpenAI) -> None:
    for include, expect_seal in (([], False), ([SEALS], True)):
        with kinds.responses.stream(
            model=MODEL,
            input="reason aloud",
            include=include,  # type: ignore[arg-type]
        ) as stream:
            done = [
                event.item
                for event in stream
                if event.type == "response.output_item.done" and event.item.type == "reasoning"
            ]
            final = stream.get_final_response()
        seals = _seals(done) + _seals(final.output)  # type: ignore[arg-type]
        assert [seal is not None for seal in seals] == [expect_seal, expect_seal]


def test_a_turn_that_is_not_stored_always_shows_its_sealed_reasoning(
    kinds: openai.OpenAI,
) -> None:
    answer = kinds.responses.create(model=MODEL, input="reason alone", store=False)
    (sealed,) = _seals(answer.output)
    assert sealed is not None and sealed.startswith("tl1:")


def test_conversation_and_input_items_show_sealed_reasoning_only_when_asked_for(
    kinds: openai.OpenAI,
) -> None:
    conversation = kinds.conversations.create()
    first = kinds.responses.create(model=MODEL, input="reason twice", conversation=conversation.id)
    (sealed,) = _seals(kinds.responses.retrieve(first.id, include=[SEALS]).output)
    items = kinds.conversations.items.list(conversation.id)
    assert _seals(items.data) == [None]
    asked = kinds.conversations.items.list(conversation.id, include=[SEALS])
    assert _seals(asked.data) == [sealed]
    reasoning_id = next(item.id for item in items.data if item.type == "reasoning")  # type: ignore[union-attr]
    one = kinds.conversations.items.retrieve(reasoning_id, conversation_id=conversation.id)
    assert getattr(one, "encrypted_content", None) is None
    one = kinds.conversations.items.retrieve(
        reasoning_id, conversation_id=conversation.id, include=[SEALS]
    )
    assert getattr(one, "encrypted_content", None) == sealed
    # Given back as input, a sealed reasoning item is listed as the rest of the input is.
    given = {"type": "reasoning", "id": reasoning_id, "summary": [], "encrypted_content": sealed}
    second = kinds.responses.create(
        model=MODEL,
        input=[given, {"role": "user", "content": "and on"}],  # type: ignore[list-item]
    )
    assert _seals(kinds.responses.input_items.list(second.id).data) == [None]
    listed = kinds.responses.input_items.list(second.id, include=[SEALS])
    assert _seals(listed.data) == [sealed]
