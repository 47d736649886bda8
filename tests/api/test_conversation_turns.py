"""One turn at a time in a conversation, as on OpenAI: a turn sent while another runs is refused
with `conversation_locked`; every turn sees the turns before it; a delete wins over a running
turn."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import httpx
import openai
import pytest

from tests.api.test_errors import assert_envelope
from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer


def create_when_free(
    client: openai.OpenAI, conversation: str, text: str, *, within: float = 30.0
) -> openai.types.responses.Response:
    """What a client does on `conversation_locked`: wait a little and send the turn again."""
    deadline = time.monotonic() + within
    while True:
        try:
            return client.responses.create(model=MODEL, input=text, conversation=conversation)
        except openai.BadRequestError as exc:
            if exc.code != "conversation_locked" or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _texts(client: openai.OpenAI, conversation: str) -> list[str]:
    items = client.conversations.items.list(conversation, order="asc", limit=100)
    return [part.text for item in items for part in getattr(item, "content", None) or []]


def _wait_for_requests(fake: FakeUpstream, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(fake.requests) < count:
        assert time.monotonic() < deadline, "the upstream was never called"
        time.sleep(0.01)


def test_a_turn_sent_while_another_runs_in_the_conversation_is_refused_as_locked(
    client: openai.OpenAI, http: httpx.Client, fake: FakeUpstream
) -> None:
    conversation = client.conversations.create().id
    fake.clear()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(
            client.responses.create, model=MODEL, input="slow 1.5", conversation=conversation
        )
        _wait_for_requests(fake, 1)
        refused = http.post(
            "/v1/responses",
            json={"model": MODEL, "input": "meanwhile", "conversation": conversation},
        )
        error = assert_envelope(refused, 400, code="conversation_locked", param="conversation")
        assert "retry" in error["message"].lower()
        first = running.result(timeout=30)
    assert first.status == "completed"
    # Once the running turn is saved the conversation takes the next one, which sees it.
    create_when_free(client, conversation, "after")
    assert _texts(client, conversation) == ["slow 1.5", "echo: slow 1.5", "after", "echo: after"]


def test_a_refused_turn_is_not_stored_and_items_can_still_be_added(
    client: openai.OpenAI, http: httpx.Client, fake: FakeUpstream
) -> None:
    conversation = client.conversations.create().id
    fake.clear()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(
            client.responses.create, model=MODEL, input="slow 1", conversation=conversation
        )
        _wait_for_requests(fake, 1)
        body = {"model": MODEL, "input": "refused", "conversation": conversation}
        assert http.post("/v1/responses", json=body).status_code == 400
        added = http.post(
            f"/v1/conversations/{conversation}/items",
            json={"items": [{"type": "message", "role": "user", "content": "a note"}]},
        )
        assert added.status_code == 200
        running.result(timeout=30)
    assert "refused" not in _texts(client, conversation)


def test_a_client_that_abandons_a_stream_and_sends_the_next_turn_keeps_the_order(
    server: LiveServer, client: openai.OpenAI, fake: FakeUpstream
) -> None:
    conversation = client.conversations.create().id
    create_when_free(client, conversation, "first")
    fake.set_chunk_delay(0.05)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as raw:
            body = {"model": MODEL, "input": "long 20", "conversation": conversation}
            with raw.stream("POST", "/v1/responses", json={**body, "stream": True}) as stream:
                for line in stream.iter_lines():
                    if "response.output_text.delta" in line:
                        break  # the client goes away mid-answer
        third = create_when_free(client, conversation, "third")
    finally:
        fake.set_chunk_delay(0.0)
    # The abandoned turn ran to its end, was saved, and the next turn saw it.
    sent = [m["content"] for m in fake.last_request()["body"]["messages"]]
    abandoned = " ".join(f"w{n}" for n in range(1, 21))
    assert sent == ["first", "echo: first", "long 20", abandoned, "third"]
    assert _texts(client, conversation) == [
        "first",
        "echo: first",
        "long 20",
        abandoned,
        "third",
        "echo: third",
    ]
    assert third.status == "completed"


def test_concurrent_turns_each_see_every_turn_before_them(client: openai.OpenAI) -> None:
    conversation = client.conversations.create().id

    def turn(n: int) -> int:
        response = create_when_free(client, conversation, f"turn-{n}", within=60)
        assert response.usage is not None
        return response.usage.input_tokens

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        prompts = list(pool.map(turn, range(12)))
    texts = _texts(client, conversation)
    assert len(texts) == 24
    assert sorted(texts[0::2]) == sorted(f"turn-{n}" for n in range(12))
    for index in range(0, 24, 2):
        assert texts[index + 1] == f"echo: {texts[index]}"
    # The fake counts words: a turn sent after k others sees 3k words of history, plus its own.
    assert sorted(prompts) == [3 * k + 1 for k in range(12)]


@pytest.mark.parametrize("stream", [False, True])
def test_deleting_a_conversation_while_its_turn_runs_wins(
    client: openai.OpenAI, http: httpx.Client, fake: FakeUpstream, stream: bool
) -> None:
    conversation = client.conversations.create().id
    fake.clear()
    outcome: dict[str, httpx.Response] = {}

    def run() -> None:
        body = {"model": MODEL, "input": "slow 1", "conversation": conversation, "stream": stream}
        outcome["answer"] = http.post("/v1/responses", json=body)

    worker = threading.Thread(target=run)
    worker.start()
    _wait_for_requests(fake, 1)
    assert http.delete(f"/v1/conversations/{conversation}").status_code == 200
    worker.join(timeout=30)
    answer = outcome["answer"]
    if stream:
        terminal = [line for line in answer.text.splitlines() if line.startswith("data:")][-1]
        assert '"response.failed"' in terminal
        assert "was deleted while this response was running" in terminal
        response_id = terminal.split('"id":"', 1)[1].split('"', 1)[0]
    else:
        error = assert_envelope(answer, 404, param="conversation")
        assert "deleted" in error["message"]
        response_id = None
    # Nothing of the turn is kept: the conversation and its response answer 404.
    assert http.get(f"/v1/conversations/{conversation}").status_code == 404
    if response_id is not None:
        assert http.get(f"/v1/responses/{response_id}").status_code == 404
