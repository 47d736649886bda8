"""Two `threadline serve` processes on one PostgreSQL database behave as one server."""

from __future__ import annotations

import httpx
import openai

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer
from tests.postgres import needs_postgres
from tests.replicas.writers import (
    assert_every_turn_contiguous,
    conversation_texts,
    write_from_lanes,
)

pytestmark = needs_postgres

Replicas = tuple[LiveServer, LiveServer]


def sdk(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="any-key", max_retries=0)


def test_a_chain_started_on_one_replica_continues_on_the_other(
    replicas: Replicas, fake: FakeUpstream
) -> None:
    one, two = sdk(replicas[0]), sdk(replicas[1])
    first = one.responses.create(model=MODEL, input="My name is Ada.")
    second = two.responses.create(
        model=MODEL, input="What is my name?", previous_response_id=first.id
    )
    sent = [(m["role"], m["content"]) for m in fake.last_request()["body"]["messages"]]
    assert sent == [
        ("user", "My name is Ada."),
        ("assistant", "echo: My name is Ada."),
        ("user", "What is my name?"),
    ]
    third = one.responses.create(model=MODEL, input="Thanks.", previous_response_id=second.id)
    assert len(fake.last_request()["body"]["messages"]) == 5
    assert two.responses.retrieve(third.id).output_text == "echo: Thanks."


def test_a_conversation_written_through_both_replicas_keeps_every_item_in_turn_order(
    replicas: Replicas,
) -> None:
    lanes = [httpx.Client(base_url=replicas[n % 2].url, timeout=60) for n in range(6)]
    try:
        conversation = lanes[0].post("/v1/conversations", json={}).json()["id"]
        write_from_lanes(lanes, conversation, turns=20, batches=10)
        seen = [conversation_texts(lanes[n], conversation) for n in (0, 1)]
    finally:
        for lane in lanes:
            lane.close()
    assert seen[0] == seen[1]
    assert_every_turn_contiguous(seen[0], turns=20, batches=10)
