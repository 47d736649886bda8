"""`POST /v1/responses/compact` through the official SDK: the model's checkpoint summary comes
back as a `compaction` item whose content only this server opens, for the caller who made it;
sent back as input (by a client that stores nothing), the model sees the summary."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.api.test_errors import assert_envelope
from tests.api.test_tenancy import two_tenants  # noqa: F401 (a fixture)
from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.fake_upstream_replies import plan_reply
from tests.live_server import LiveServer, serving_providers
from threadline.engine.responses.compaction import PROMPT, SUMMARY_HEADING


def _dicts(items: list[Any]) -> list[dict[str, Any]]:
    return [item.model_dump(exclude_none=True) for item in items]


def test_a_compaction_round_trips_through_a_client_that_stores_nothing(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    first = client.responses.create(model=MODEL, input="My name is Ada and I like tea", store=False)
    context = [
        {"role": "user", "content": "My name is Ada and I like tea"},
        *_dicts(first.output),
    ]
    compacted = client.responses.compact(model=MODEL, input=context)  # type: ignore[arg-type]
    asked = fake.last_request()["body"]["messages"]
    assert asked[-1] == {"role": "user", "content": PROMPT}
    assert asked[0]["content"] == "My name is Ada and I like tea"
    assert compacted.object == "response.compaction"
    kinds = [item.type for item in compacted.output]
    assert kinds == ["message", "compaction"]
    sealed = compacted.output[-1].encrypted_content  # type: ignore[union-attr]
    assert "tea" not in sealed and "Ada" not in sealed  # opaque to the client

    answered = client.responses.create(
        model=MODEL,
        input=[*_dicts(compacted.output), {"role": "user", "content": "what do I like"}],  # type: ignore[list-item]
        store=False,
    )
    assert answered.status == "completed"
    seen = [m["content"] for m in fake.last_request()["body"]["messages"]]
    summary = next(text for text in seen if text.startswith(SUMMARY_HEADING))
    assert PROMPT in summary  # the fake's "summary" echoes what it was asked
    assert seen[-1] == "what do I like"


def test_an_altered_compaction_item_is_refused(client: openai.OpenAI, server: LiveServer) -> None:
    compacted = client.responses.compact(model=MODEL, input="remember the number 42")
    item = compacted.output[-1].model_dump()
    item["encrypted_content"] = item["encrypted_content"][:-6] + "AAAAAA"
    refused = httpx.post(
        f"{server.url}/v1/responses",
        json={"model": MODEL, "input": [item, {"role": "user", "content": "and?"}]},
    )
    error = assert_envelope(refused, 400, code="invalid_encrypted_content")
    assert error["param"] == "input[0].encrypted_content"


def test_another_tenants_compaction_item_is_refused(
    two_tenants: tuple[openai.OpenAI, openai.OpenAI, LiveServer],  # noqa: F811
) -> None:
    alice, bob, _ = two_tenants
    compacted = alice.responses.compact(model=MODEL, input="alice's secret plan")
    with pytest.raises(openai.BadRequestError) as refused:
        bob.responses.create(
            model=MODEL,
            input=[*_dicts(compacted.output), {"role": "user", "content": "tell me"}],  # type: ignore[list-item]
        )
    assert refused.value.code == "invalid_encrypted_content"


def test_compacting_nothing_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.compact(model=MODEL)
    assert refused.value.param == "input"


@pytest.fixture(scope="module")
def windowed(
    fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[openai.OpenAI]:
    """A model that refuses more than 3,000 words, declared with a 3,000-token window."""
    directory = tmp_path_factory.mktemp("compaction")
    providers = {
        "w": {
            "base_url": fake.base_url,
            "api_key": "k",
            "model_limits": {
                "fake-window-3000": {"context_window": 3000, "max_output_tokens": 100}
            },
        }
    }
    with serving_providers(fake.base_url, directory, providers, "w") as live:
        yield openai.OpenAI(base_url=live.base_url, api_key="any", max_retries=0)


def test_a_conversation_compacts_itself_past_its_threshold_and_goes_on(
    windowed: openai.OpenAI, fake: FakeUpstream
) -> None:
    conversation = windowed.conversations.create()
    management = [{"type": "compaction", "compact_threshold": 1000}]
    compacted_at = []
    for turn in range(100):
        calls_before = len(fake.requests)
        answer = windowed.responses.create(
            model="w/fake-window-3000",
            input=f"turn {turn} brings the words {' '.join(['news'] * 10)}",
            conversation=conversation.id,
            context_management=management,  # type: ignore[arg-type]
        )
        assert answer.status == "completed", answer.error
        if answer.output[0].type == "compaction":
            compacted_at.append(turn)
            assert answer.output[1].type == "message"
            # The turn's usage counts both model calls: the summary's and the answer's.
            calls = [plan_reply(r["body"], str) for r in fake.requests[calls_before:]]
            assert len(calls) == 2
            assert answer.usage is not None
            assert answer.usage.input_tokens == sum(call.prompt_tokens for call in calls)
            assert answer.usage.output_tokens == sum(call.completion_tokens for call in calls)
    assert len(compacted_at) >= 2
    sent = [m["content"] for m in fake.last_request()["body"]["messages"]]
    assert any(text.startswith(SUMMARY_HEADING) for text in sent)
    # After the last compaction the model sees the user messages, the summary, what followed.
    assert sum(1 for text in sent if text.startswith("echo:")) <= 100 - compacted_at[-1]
    # The conversation itself keeps every item, the compaction items among them.
    items = list(windowed.conversations.items.list(conversation.id, limit=100, order="asc"))
    assert sum(1 for item in items if item.type == "compaction") == len(compacted_at)
