"""`threadline serve --workers 2` on one SQLite file behaves as one server.

Connections are pinned to workers (see processes.py), so each check runs through both.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer
from tests.replicas.conftest import two_workers
from tests.replicas.processes import child_processes, holder, serving_process
from tests.replicas.writers import (
    assert_every_turn_contiguous,
    conversation_texts,
    write_from_lanes,
)
from threadline.cli.main import app

LANES_PER_WORKER = 3
MAX_CONNECTIONS_TRIED = 100
# Spread by a hash, 64 connections give one of two workers fewer than 16 about once in 25,000
# runs; accepted from one shared socket, the first worker awake took nearly all of them.
CONNECTIONS_AT_ONCE = 64
FEWEST_PER_WORKER = 16


def worker_of(response: httpx.Response, server: LiveServer) -> int:
    return serving_process(response, server.port, child_processes(server.pid))


@pytest.fixture
def pinned(workers: LiveServer) -> Iterator[dict[int, list[httpx.Client]]]:
    """Keep-alive clients grouped by the worker that accepted their connection."""
    by_worker: dict[int, list[httpx.Client]] = {}
    opened = []
    try:
        for _ in range(MAX_CONNECTIONS_TRIED):
            client = httpx.Client(base_url=workers.url, timeout=60)
            opened.append(client)
            lanes = by_worker.setdefault(worker_of(client.get("/healthz"), workers), [])
            if len(lanes) < LANES_PER_WORKER:
                lanes.append(client)
            if len(by_worker) == 2 and all(
                len(lanes) == LANES_PER_WORKER for lanes in by_worker.values()
            ):
                break
        assert len(by_worker) == 2, "every connection went to one worker"
        yield by_worker
    finally:
        for client in opened:
            client.close()


def test_a_chain_started_on_one_worker_continues_on_the_other(
    workers: LiveServer, pinned: dict[int, list[httpx.Client]]
) -> None:
    one, two = (lanes[0] for lanes in pinned.values())
    first = one.post("/v1/responses", json={"model": MODEL, "input": "My name is Ada."})
    second = two.post(
        "/v1/responses",
        json={"model": MODEL, "input": "Who am I?", "previous_response_id": first.json()["id"]},
    )
    assert second.status_code == 200, second.text
    assert worker_of(first, workers) != worker_of(second, workers)
    inputs = one.get(f"/v1/responses/{second.json()['id']}/input_items").json()["data"]
    assert [item["content"][0]["text"] for item in inputs] == ["Who am I?"]
    assert two.get(f"/v1/responses/{first.json()['id']}").json()["status"] == "completed"


def test_a_conversation_written_through_both_workers_keeps_every_item_in_turn_order(
    workers: LiveServer, pinned: dict[int, list[httpx.Client]]
) -> None:
    lanes = [client for clients in zip(*pinned.values(), strict=True) for client in clients]
    conversation = lanes[0].post("/v1/conversations", json={}).json()["id"]
    written = write_from_lanes(lanes, conversation, turns=20, batches=10)
    served_by = {worker_of(response, workers) for responses in written for response in responses}
    assert served_by == set(pinned)
    seen = [conversation_texts(clients[0], conversation) for clients in pinned.values()]
    assert seen[0] == seen[1]
    assert_every_turn_contiguous(seen[0], turns=20, batches=10)


def _workers_holding(server: LiveServer, connections: int) -> Counter[int]:
    """How many of `connections` opened at once (each answered) each worker holds."""
    opened = [
        socket.create_connection(("127.0.0.1", server.port), timeout=30) for _ in range(connections)
    ]
    try:
        for conn in opened:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: threadline\r\n\r\n")
        for conn in opened:
            assert conn.recv(65536).startswith(b"HTTP/1.1 200 ")
        pids = child_processes(server.pid)
        return Counter(holder(server.port, conn.getsockname()[1], pids) for conn in opened)
    finally:
        for conn in opened:
            conn.close()


def test_connections_opened_at_once_are_spread_over_the_workers(workers: LiveServer) -> None:
    held = _workers_holding(workers, CONNECTIONS_AT_ONCE)
    assert len(held) == 2 and min(held.values()) >= FEWEST_PER_WORKER, held


def test_a_worker_restarted_after_a_crash_takes_its_share_of_connections(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    with two_workers(fake, tmp_path) as server:
        crashed = child_processes(server.pid)[0]
        os.kill(crashed, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pids = child_processes(server.pid)
            if len(pids) == 2 and crashed not in pids and _both_serve(server):
                break
            time.sleep(0.2)
        held = _workers_holding(server, CONNECTIONS_AT_ONCE)
    assert crashed not in held
    assert len(held) == 2 and min(held.values()) >= FEWEST_PER_WORKER, held


def _both_serve(server: LiveServer) -> bool:
    """Whether both workers take new connections (a restarted worker listens only once it has
    started)."""
    try:
        return len(_workers_holding(server, 8)) == 2
    except OSError:
        return False


def test_workers_refuse_an_in_memory_database() -> None:
    result = CliRunner().invoke(app, ["serve", "--workers", "2", "--db", "memory://"])
    assert result.exit_code == 2 and "memory://" in result.output


def _requests_counted(client: httpx.Client) -> float:
    """POST /v1/responses answered 200, as one scrape of /metrics reports it."""
    scrape = client.get("/metrics").text
    line = 'threadline_http_requests_total{method="POST",route="/v1/responses",status="200"}'
    counted = [row.rsplit(" ", 1)[1] for row in scrape.splitlines() if row.startswith(line)]
    return float(counted[0]) if counted else 0.0


def test_metrics_count_the_whole_server_whichever_worker_is_scraped(
    workers: LiveServer, pinned: dict[int, list[httpx.Client]]
) -> None:
    one, two = (lanes[0] for lanes in pinned.values())
    before = _requests_counted(one)
    for client, turns in ((one, 3), (two, 2)):
        for _ in range(turns):
            made = client.post("/v1/responses", json={"model": MODEL, "input": "count me"})
            assert made.status_code == 200, made.text
    # A request is counted once its answer is sent, so the last one may be counted a moment
    # after its client has read it.
    deadline = time.monotonic() + 5
    while _requests_counted(one) != before + 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _requests_counted(one) == _requests_counted(two) == before + 5
    assert "threadline_workers 2.0" in one.get("/metrics").text.splitlines()
