"""Client disconnects, SIGKILL and SIGTERM with streams in flight: nothing half-written."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.api.test_conversation_turns import create_when_free
from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer


@pytest.fixture
def slow_fake() -> Iterator[FakeUpstream]:
    """A model that streams a word every 20 ms, so streams stay open for a while."""
    with FakeUpstream(chunk_delay=0.02, record=False) as upstream:
        yield upstream


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _in_flight(server: LiveServer) -> int:
    return int(httpx.get(f"{server.url}/healthz").json()["turns_in_flight"])


def _wait_until_idle(server: LiveServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _in_flight(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _in_flight(server) == 0


async def _start_stream_and_leave(
    client: httpx.AsyncClient, body: dict[str, Any], ids: list[str]
) -> None:
    async with client.stream("POST", "/v1/responses", json={**body, "stream": True}) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if event["type"] == "response.created":
                    ids.append(event["response"]["id"])
                if event["type"] == "response.output_text.delta":
                    return  # hang up mid-stream


def test_a_thousand_disconnects_lose_no_turn_and_leak_nothing(fresh_server: LiveServer) -> None:
    pid = fresh_server.pid

    def disconnect(count: int) -> list[str]:
        ids: list[str] = []
        asyncio.run(_disconnect_many(fresh_server, count, ids))
        _wait_until_idle(fresh_server)
        return ids

    disconnect(100)  # warm up the pools (upstream keep-alive, database readers)
    fds_warm = _open_fds(pid)
    ids = disconnect(1000)
    assert len(ids) == 1000
    client = openai.OpenAI(base_url=fresh_server.base_url, api_key="k", max_retries=0)
    for response_id in ids[::50]:
        stored = client.responses.retrieve(response_id)
        assert stored.status == "completed"
        assert stored.output_text == " ".join(f"w{i}" for i in range(1, 31))
    # A leak would add a descriptor per disconnect (1,000). What may grow is the upstream
    # keep-alive pool, which is bounded (100 connections).
    assert _open_fds(pid) - fds_warm < 100


async def _disconnect_many(server: LiveServer, count: int, ids: list[str]) -> None:
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:
        semaphore = asyncio.Semaphore(50)

        async def one() -> None:
            async with semaphore:
                await _start_stream_and_leave(client, {"model": MODEL, "input": "long 30"}, ids)

        await asyncio.gather(*(one() for _ in range(count)))


class OpenStreams:
    """Streams started in background threads; `start` returns once each one has received an
    event of type `until`, and `types[i]` records every event type stream i received."""

    def __init__(self, server: LiveServer, bodies: list[dict[str, Any]]) -> None:
        self.server = server
        self.bodies = bodies
        self.ids = [""] * len(bodies)
        self.types: list[list[str]] = [[] for _ in bodies]
        self._threads: list[threading.Thread] = []

    def start(self, until: str) -> OpenStreams:
        ready = threading.Barrier(len(self.bodies) + 1)
        self._threads = [
            threading.Thread(target=self._consume, args=(i, body, until, ready), daemon=True)
            for i, body in enumerate(self.bodies)
        ]
        for thread in self._threads:
            thread.start()
        ready.wait(timeout=60)
        return self

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=30)

    def _consume(
        self, index: int, body: dict[str, Any], until: str, ready: threading.Barrier
    ) -> None:
        signalled = False
        url = f"{self.server.base_url}/responses"
        try:
            with httpx.stream("POST", url, json={**body, "stream": True}, timeout=60) as response:
                for line in response.iter_lines():
                    if not line.startswith("data: "):
                        continue
                    event = json.loads(line[6:])
                    self.types[index].append(event["type"])
                    if event["type"] == "response.created":
                        self.ids[index] = event["response"]["id"]
                    if event["type"] == until and not signalled:
                        signalled = True
                        ready.wait()
        except httpx.HTTPError:
            pass  # the server was killed under us: that is the point of the test
        finally:
            if not signalled:
                ready.wait()


def test_sigkill_with_fifty_streams_in_flight_leaves_no_partial_turn(
    slow_fake: FakeUpstream, tmp_path: Path
) -> None:
    database = str(tmp_path / "crash.db")
    lease = {"THREADLINE_TURN_LEASE_SECONDS": "2", "THREADLINE_SWEEP_INTERVAL": "0.2"}
    with LiveServer(database, slow_fake.base_url, env=lease, log_path=tmp_path / "log") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        conversations = [client.conversations.create().id for _ in range(10)]
        for conversation_id in conversations:
            client.responses.create(model=MODEL, input="long 3", conversation=conversation_id)
        bodies = [
            {
                "model": MODEL,
                "input": "long 200",
                # A conversation runs one turn at a time: one stream in each.
                **({"conversation": conversations[n]} if n < 10 else {}),
            }
            for n in range(50)
        ]
        ids = OpenStreams(server, bodies).start(until="response.output_text.delta").ids
        server.stop(signal.SIGKILL)

        integrity = sqlite3.connect(database).execute("PRAGMA integrity_check").fetchone()
        assert integrity == ("ok",)

        server.start()
        # Every turn was stored when it started. Those the crash cut short end `failed`, with
        # their input, once their dead process's lease lapses: none stays in progress.
        deadline = time.monotonic() + 20
        for response_id in ids:
            try:
                while (stored := client.responses.retrieve(response_id)).status == "in_progress":
                    assert time.monotonic() < deadline, f"{response_id} stayed in progress"
                    time.sleep(0.1)
            except openai.NotFoundError:
                continue  # killed before its start was committed: nothing of it was written
            assert stored.status in ("completed", "failed", "incomplete")
            assert list(client.responses.input_items.list(response_id))
        for conversation_id in conversations:
            items = list(client.conversations.items.list(conversation_id, order="asc"))
            assert len(items) % 2 == 0
            for question, answer in zip(items[0::2], items[1::2], strict=True):
                assert question.role == "user" and answer.role == "assistant"
                assert answer.status == "completed"
        # The dead process's claims on the conversations lapse with their lease.
        after = create_when_free(client, conversations[0], "after the crash", within=10)
        assert after.status == "completed"


def test_sigterm_ends_every_stream_with_a_terminal_event(
    slow_fake: FakeUpstream, tmp_path: Path
) -> None:
    env = {"THREADLINE_SHUTDOWN_GRACE_SECONDS": "1"}
    with LiveServer(
        str(tmp_path / "t.db"), slow_fake.base_url, env=env, log_path=tmp_path / "log"
    ) as server:
        bodies = [{"model": MODEL, "input": "long 20"}] * 5 + [
            {"model": MODEL, "input": "long 1000"}
        ] * 5
        streams = OpenStreams(server, bodies).start(until="response.in_progress")
        server.stop(signal.SIGTERM)
        streams.join()
        ids, types = streams.ids, streams.types
        for received in types:
            assert received[-1] in ("response.completed", "response.failed"), received[-3:]
        assert [t[-1] for t in types[:5]] == ["response.completed"] * 5
        assert [t[-1] for t in types[5:]] == ["response.failed"] * 5

        server.start()
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        for response_id in ids[5:]:
            stored = client.responses.retrieve(response_id)
            assert stored.status == "failed"
            assert stored.error is not None and stored.error.code == "server_error"
            assert "shutting down" in stored.error.message


def test_sigterm_answers_a_non_streaming_turn_with_an_error_envelope_at_the_grace_deadline(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    """Before, the client waited for uvicorn's own deadline (grace + 5 s) and got a plain-text
    500."""
    grace = 2
    env = {"THREADLINE_SHUTDOWN_GRACE_SECONDS": str(grace)}
    with LiveServer(
        str(tmp_path / "t.db"), fake.base_url, env=env, log_path=tmp_path / "log"
    ) as server:
        answers: list[httpx.Response] = []

        def ask() -> None:
            body = {"model": MODEL, "input": "slow 60"}
            answers.append(httpx.post(f"{server.base_url}/responses", json=body, timeout=60))

        asking = threading.Thread(target=ask)
        asking.start()
        deadline = time.monotonic() + 10
        while _in_flight(server) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        stopped_at = time.monotonic()
        server.stop(signal.SIGTERM)
        asking.join()
        elapsed = time.monotonic() - stopped_at

        (answer,) = answers
        assert answer.status_code == 503, answer.text
        error = answer.json()["error"]
        assert error["code"] == "server_shutting_down"
        assert grace <= elapsed < grace + 3
        response_id = error["message"].split("stored as '")[1].split("'")[0]

        server.start()
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        stored = client.responses.retrieve(response_id)
        assert stored.status == "failed"
        assert stored.error is not None and stored.error.code == "server_error"
        assert "shutting down" in stored.error.message
