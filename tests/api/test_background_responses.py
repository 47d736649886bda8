"""Background responses through the official SDK: queued at once, run by the server, polled,
cancelled, and their streams resumed after a disconnect or a restart."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.api.test_errors import assert_envelope
from tests.api.test_tenancy import create_key
from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer

_ENDED = ("completed", "failed", "incomplete", "cancelled")


def wait_for(client: openai.OpenAI, response_id: str, statuses: tuple[str, ...]) -> Any:
    deadline = time.monotonic() + 20
    while (found := client.responses.retrieve(response_id)).status not in statuses:
        assert time.monotonic() < deadline, f"still {found.status}"
        time.sleep(0.05)
    return found


def test_a_background_response_is_queued_then_completes_when_polled(client: openai.OpenAI) -> None:
    created = client.responses.create(model=MODEL, input="hello there", background=True)
    assert created.status == "queued" and created.background is True
    assert created.output == []
    done = wait_for(client, created.id, _ENDED)
    assert done.status == "completed" and done.background is True
    assert done.output_text == "echo: hello there"
    inputs = client.responses.input_items.list(created.id)
    assert [part.text for item in inputs.data for part in item.content] == ["hello there"]  # type: ignore[union-attr]


def test_a_background_response_must_be_stored(server: LiveServer) -> None:
    refused = httpx.post(
        f"{server.url}/v1/responses",
        json={"model": MODEL, "input": "x", "background": True, "store": False},
    )
    assert_envelope(refused, 400, param="store")


def test_a_background_response_with_a_bad_request_is_refused_before_it_is_queued(
    server: LiveServer,
) -> None:
    refused = httpx.post(
        f"{server.url}/v1/responses",
        json={
            "model": MODEL,
            "background": True,
            "previous_response_id": "resp_nope",
            "input": "x",
        },
    )
    assert_envelope(refused, 400, code="previous_response_not_found")


def test_cancelling_a_running_background_response_ends_it_cancelled(
    client: openai.OpenAI,
) -> None:
    created = client.responses.create(model=MODEL, input="slow 10", background=True)
    wait_for(client, created.id, ("in_progress",))
    started = time.monotonic()
    cancelled = client.responses.cancel(created.id)
    assert cancelled.status == "cancelled"
    assert time.monotonic() - started < 5  # the upstream call was aborted, not waited out
    assert client.responses.retrieve(created.id).status == "cancelled"
    again = client.responses.cancel(created.id)  # idempotent
    assert again.status == "cancelled"


def test_cancelling_a_finished_background_response_returns_it_as_it_ended(
    client: openai.OpenAI,
) -> None:
    created = client.responses.create(model=MODEL, input="quick", background=True)
    wait_for(client, created.id, _ENDED)
    assert client.responses.cancel(created.id).status == "completed"


def test_only_background_responses_can_be_cancelled(
    client: openai.OpenAI, server: LiveServer
) -> None:
    foreground = client.responses.create(model=MODEL, input="hi")
    refused = httpx.post(f"{server.url}/v1/responses/{foreground.id}/cancel")
    assert_envelope(refused, 400)
    missing = httpx.post(f"{server.url}/v1/responses/resp_missing/cancel")
    assert_envelope(missing, 404)


def test_a_background_stream_is_resumed_after_a_disconnect(client: openai.OpenAI) -> None:
    stream = client.responses.create(model=MODEL, input="long 40", background=True, stream=True)
    seen = []
    for event in stream:
        seen.append(event)
        if event.type == "response.output_text.delta" and len(seen) > 8:
            break
    stream.close()
    assert [e.type for e in seen[:3]] == [
        "response.created",
        "response.queued",
        "response.in_progress",
    ]
    assert seen[0].response.status == "queued"  # type: ignore[union-attr]
    last = seen[-1].sequence_number
    resumed = list(
        client.responses.retrieve(seen[0].response.id, stream=True, starting_after=last)  # type: ignore[union-attr]
    )
    numbers = [e.sequence_number for e in seen] + [e.sequence_number for e in resumed]
    assert numbers == list(range(len(numbers)))
    assert resumed[-1].type == "response.completed"
    text = "".join(
        e.delta
        for e in [*seen, *resumed]
        if e.type == "response.output_text.delta"  # type: ignore[union-attr]
    )
    assert text == " ".join(f"w{i}" for i in range(1, 41))


def test_resuming_a_foreground_response_is_refused(
    client: openai.OpenAI, server: LiveServer
) -> None:
    foreground = client.responses.create(model=MODEL, input="hi")
    refused = httpx.get(f"{server.url}/v1/responses/{foreground.id}?stream=true")
    assert_envelope(refused, 400, param="stream")


def test_background_turns_of_one_conversation_run_in_order(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    first = client.responses.create(
        model=MODEL, input="slow 0.5", background=True, conversation=conversation.id
    )
    second = client.responses.create(
        model=MODEL, input="after", background=True, conversation=conversation.id
    )
    assert wait_for(client, second.id, _ENDED).status == "completed"
    assert client.responses.retrieve(first.id).status == "completed"
    items = client.conversations.items.list(conversation.id, order="asc").data
    texts = [part.text for item in items for part in item.content]  # type: ignore[union-attr]
    assert texts == ["slow 0.5", "echo: slow 0.5", "after", "echo: after"]


def test_a_full_queue_answers_429(fake: FakeUpstream, tmp_path: Path) -> None:
    env = {"THREADLINE_BACKGROUND_CONCURRENCY": "1", "THREADLINE_BACKGROUND_QUEUE_LIMIT": "1"}
    with LiveServer(
        str(tmp_path / "t.db"), fake.base_url, env=env, log_path=tmp_path / "log"
    ) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        running = client.responses.create(model=MODEL, input="slow 3", background=True)
        wait_for(client, running.id, ("in_progress",))
        client.responses.create(model=MODEL, input="waits", background=True)
        with pytest.raises(openai.RateLimitError) as refused:
            client.responses.create(model=MODEL, input="one too many", background=True)
        assert refused.value.code == "background_queue_full"
        client.responses.cancel(running.id)


def test_one_tenant_cannot_fill_the_queue_for_another(fake: FakeUpstream, tmp_path: Path) -> None:
    env = {
        "THREADLINE_BACKGROUND_CONCURRENCY": "1",
        "THREADLINE_BACKGROUND_TENANT_QUEUE_LIMIT": "1",
    }
    with LiveServer(
        str(tmp_path / "t.db"), fake.base_url, env=env, log_path=tmp_path / "log"
    ) as server:
        keys = [create_key(server, name) for name in ("greedy", "patient")]
        server.restart()  # a running server notices new keys within seconds; don't wait
        greedy, patient = (
            openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0) for key in keys
        )
        running = greedy.responses.create(model=MODEL, input="slow 3", background=True)
        wait_for(greedy, running.id, ("in_progress",))
        greedy.responses.create(model=MODEL, input="waits", background=True)
        with pytest.raises(openai.RateLimitError) as refused:
            greedy.responses.create(model=MODEL, input="one too many", background=True)
        assert refused.value.code == "background_queue_full"
        assert "share" in refused.value.message
        waiting = patient.responses.create(model=MODEL, input="my turn", background=True)
        assert waiting.status == "queued"
        greedy.responses.cancel(running.id)
        assert wait_for(patient, waiting.id, _ENDED).status == "completed"


def test_a_queue_only_process_leaves_its_background_responses_to_a_worker_process(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    database = str(tmp_path / "t.db")
    queue_only = {
        "THREADLINE_BACKGROUND_CONCURRENCY": "0",
        "THREADLINE_BACKGROUND_POLL_INTERVAL": "0.1",
    }
    with LiveServer(database, fake.base_url, env=queue_only, log_path=tmp_path / "api") as api:
        client = openai.OpenAI(base_url=api.base_url, api_key="k", max_retries=0)
        queued = client.responses.create(model=MODEL, input="run elsewhere", background=True)
        time.sleep(0.5)  # five of its polls: it takes nothing
        assert client.responses.retrieve(queued.id).status == "queued"
        with LiveServer(database, fake.base_url, log_path=tmp_path / "worker"):
            done = wait_for(client, queued.id, _ENDED)
        assert done.status == "completed" and done.output_text == "echo: run elsewhere"


def test_a_background_response_survives_a_killed_server(fake: FakeUpstream, tmp_path: Path) -> None:
    env = {"THREADLINE_TURN_LEASE_SECONDS": "1", "THREADLINE_SWEEP_INTERVAL": "0.2"}
    with LiveServer(
        str(tmp_path / "t.db"), fake.base_url, env=env, log_path=tmp_path / "log"
    ) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        stream = client.responses.create(model=MODEL, input="slow 2", background=True, stream=True)
        first = next(iter(stream))
        response_id = first.response.id  # type: ignore[union-attr]
        wait_for(client, response_id, ("in_progress",))
        server.stop(signal.SIGKILL)
        server.start()
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        done = wait_for(client, response_id, _ENDED)
        assert done.status == "completed" and done.output_text == "echo: slow 2"
        # The run after the restart streamed from the start again, and was kept whole.
        replayed = list(client.responses.retrieve(response_id, stream=True))
        assert [e.sequence_number for e in replayed] == list(range(len(replayed)))
        assert replayed[0].type == "response.created"
        assert replayed[-1].type == "response.completed"


def test_cancelling_a_background_response_mid_stream_ends_its_stream_cancelled(
    client: openai.OpenAI,
) -> None:
    stream = client.responses.create(model=MODEL, input="slow 10", background=True, stream=True)
    events = iter(stream)
    seen = [next(events) for _ in range(3)]  # created, queued, in_progress
    assert seen[-1].type == "response.in_progress"
    response_id = seen[0].response.id  # type: ignore[union-attr]
    assert client.responses.cancel(response_id).status == "cancelled"
    rest = list(events)
    assert rest[-1].type == "response.failed"  # the spec has no event for a cancelled one
    assert rest[-1].response.status == "cancelled"  # type: ignore[union-attr]
    numbers = [e.sequence_number for e in [*seen, *rest]]
    assert numbers == list(range(len(numbers)))
