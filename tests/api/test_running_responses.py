"""A response is stored when its turn starts (one not streamed, once it has run for a while:
until it ends nobody knows its id): it can be read while it runs, and a crash ends it `failed`
with its input kept, instead of losing it."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import openai

from tests.api.test_errors import assert_envelope
from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer


def _first_response_id(server: LiveServer, body: dict[str, object]) -> tuple[httpx.Client, str]:
    """Start a streamed turn and return once its `response.created` event arrived (the client
    stays open, so the turn keeps streaming)."""
    raw = httpx.Client(base_url=server.url, timeout=30)
    stream = raw.stream("POST", "/v1/responses", json={**body, "stream": True})
    lines = stream.__enter__().iter_lines()
    for line in lines:
        if line.startswith("data:"):
            event = json.loads(line[5:])
            if event["type"] == "response.created":
                return raw, event["response"]["id"]
    raise AssertionError("no response.created event")


def _wait_until_committed(database: str, response_id: str) -> None:
    """The start of a turn commits while the model is called: wait for it in the file."""
    deadline = time.monotonic() + 10
    while True:
        with contextlib.closing(sqlite3.connect(database)) as db:
            found = db.execute("SELECT 1 FROM responses WHERE id = ?", (response_id,)).fetchone()
        if found is not None:
            return
        assert time.monotonic() < deadline, "the turn's start was never committed"
        time.sleep(0.02)


def _quickly_swept_server(fake: FakeUpstream, tmp_path: Path) -> LiveServer:
    """A server whose turns' leases lapse a second after its process dies, swept at once."""
    env = {"THREADLINE_TURN_LEASE_SECONDS": "1", "THREADLINE_SWEEP_INTERVAL": "0.2"}
    return LiveServer(str(tmp_path / "t.db"), fake.base_url, env=env, log_path=tmp_path / "log")


def _assert_ended_failed_with_its_input(server: LiveServer, response_id: str, text: str) -> None:
    """After a restart, the sweeper ends the killed process's turn `failed`, input kept."""
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    deadline = time.monotonic() + 15
    while (stored := client.responses.retrieve(response_id)).status == "in_progress":
        assert time.monotonic() < deadline, "the abandoned turn was never ended"
        time.sleep(0.1)
    assert stored.status == "failed"
    assert stored.error is not None and "server_interrupted" in stored.error.message
    inputs = client.responses.input_items.list(response_id)
    assert [part.text for item in inputs for part in item.content] == [text]


def _wait_for_a_running_turn(database: str) -> str:
    """The id of the one turn stored `in_progress` in the file, once it is there."""
    deadline = time.monotonic() + 10
    while True:
        with contextlib.closing(sqlite3.connect(database)) as db:
            found = db.execute("SELECT id FROM responses WHERE status = 'in_progress'").fetchall()
        if found:
            assert len(found) == 1
            return str(found[0][0])
        assert time.monotonic() < deadline, "no running turn was ever stored"
        time.sleep(0.02)


def test_get_shows_a_running_turn_in_progress_then_completed(server: LiveServer) -> None:
    raw, response_id = _first_response_id(server, {"model": MODEL, "input": "slow 1.5"})
    try:
        during = raw.get(f"/v1/responses/{response_id}")
        assert during.status_code == 200, during.text
        assert during.json()["status"] == "in_progress"
        _wait_until_committed(server.database, response_id)
        inputs = raw.get(f"/v1/responses/{response_id}/input_items").json()["data"]
        assert [part["text"] for item in inputs for part in item["content"]] == ["slow 1.5"]
        deadline = time.monotonic() + 20
        while raw.get(f"/v1/responses/{response_id}").json()["status"] == "in_progress":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        after = raw.get(f"/v1/responses/{response_id}").json()
        assert after["status"] == "completed"
        assert after["output"][0]["content"][0]["text"] == "echo: slow 1.5"
    finally:
        raw.close()


def test_continuing_a_response_that_is_still_running_is_refused(server: LiveServer) -> None:
    raw, response_id = _first_response_id(server, {"model": MODEL, "input": "slow 1.5"})
    try:
        refused = raw.post(
            "/v1/responses",
            json={"model": MODEL, "input": "next", "previous_response_id": response_id},
        )
        error = assert_envelope(
            refused, 400, code="previous_response_in_progress", param="previous_response_id"
        )
        assert response_id in error["message"]
    finally:
        raw.close()


def test_a_turn_whose_server_was_killed_ends_failed_with_its_input_after_restart(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    with _quickly_swept_server(fake, tmp_path) as server:
        raw, response_id = _first_response_id(server, {"model": MODEL, "input": "slow 30"})
        raw.close()
        _wait_until_committed(server.database, response_id)
        server.stop(signal.SIGKILL)
        server.start()
        _assert_ended_failed_with_its_input(server, response_id, "slow 30")


def test_a_turn_not_streamed_that_runs_long_is_kept_through_a_crash(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    with _quickly_swept_server(fake, tmp_path) as server:

        def create() -> None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(
                    f"{server.url}/v1/responses",
                    json={"model": MODEL, "input": "slow 30"},
                    timeout=60,
                )

        caller = threading.Thread(target=create, daemon=True)
        caller.start()
        response_id = _wait_for_a_running_turn(server.database)
        server.stop(signal.SIGKILL)
        caller.join(10)
        server.start()
        _assert_ended_failed_with_its_input(server, response_id, "slow 30")
