"""Two `threadline serve` processes on one PostgreSQL database behave as one server."""

from __future__ import annotations

import time
from typing import Any

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


def test_a_background_job_runs_once_and_its_stream_is_resumed_from_the_other_replica(
    replicas: Replicas,
) -> None:
    one, two = sdk(replicas[0]), sdk(replicas[1])
    stream = one.responses.create(model=MODEL, input="long 30", background=True, stream=True)
    seen = []
    for event in stream:
        seen.append(event)
        if event.type == "response.output_text.delta":
            break
    stream.close()
    response_id = seen[0].response.id  # type: ignore[union-attr]
    resumed = list(
        two.responses.retrieve(response_id, stream=True, starting_after=seen[-1].sequence_number)
    )
    numbers = [e.sequence_number for e in [*seen, *resumed]]
    assert numbers == list(range(len(numbers)))
    assert resumed[-1].type == "response.completed"
    assert two.responses.retrieve(response_id).output_text == " ".join(
        f"w{i}" for i in range(1, 31)
    )


def test_background_jobs_queued_on_both_replicas_each_run_once(
    replicas: Replicas, fake: FakeUpstream
) -> None:
    clients = [sdk(replicas[0]), sdk(replicas[1])]
    before = len(fake.requests)
    queued = [
        clients[n % 2].responses.create(model=MODEL, input=f"job {n}", background=True)
        for n in range(20)
    ]
    for n, response in enumerate(queued):
        assert wait_for_end(clients[0], response.id).output_text == f"echo: job {n}"
    assert len(fake.requests) - before == 20  # each job called the model once


def test_a_background_job_running_on_one_replica_is_cancelled_through_the_other(
    replicas: Replicas,
) -> None:
    one, two = sdk(replicas[0]), sdk(replicas[1])
    created = one.responses.create(model=MODEL, input="slow 10", background=True)
    deadline = time.monotonic() + 10
    while two.responses.retrieve(created.id).status != "in_progress":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert two.responses.cancel(created.id).status == "cancelled"
    assert one.responses.retrieve(created.id).status == "cancelled"


def wait_for_end(client: openai.OpenAI, response_id: str) -> Any:
    deadline = time.monotonic() + 30
    while (found := client.responses.retrieve(response_id)).status in ("queued", "in_progress"):
        assert time.monotonic() < deadline, found.status
        time.sleep(0.05)
    return found
