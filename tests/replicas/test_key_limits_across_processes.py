"""A key's rate limit holds across processes: `--workers 2` on one SQLite file, and two
replicas on one PostgreSQL database, admit no more requests a minute than the key allows."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.test_key_limits import keys
from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer
from tests.postgres import temporary_database
from tests.replicas.processes import child_processes, serving_process

LIMIT = 6
SENT = 14


def a_key(database: str, upstream: str) -> str:
    """A key with `LIMIT` requests a minute, made before any server starts."""
    return keys(LiveServer(database, upstream), "create", "alice", "--rpm", str(LIMIT))


def statuses(urls: list[str], secret: str) -> list[int]:
    """`SENT` requests at once, spread over `urls`."""
    body = {"model": MODEL, "input": "hello"}
    headers = {"Authorization": f"Bearer {secret}"}

    def send(n: int) -> int:
        url = f"{urls[n % len(urls)]}/v1/responses"
        return httpx.post(url, json=body, headers=headers, timeout=30).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=SENT) as pool:
        return list(pool.map(send, range(SENT)))


@pytest.fixture
def two_workers(fake: FakeUpstream, tmp_path: Path) -> Iterator[tuple[LiveServer, str]]:
    database = str(tmp_path / "threadline.db")
    secret = a_key(database, fake.base_url)
    with LiveServer(
        database, fake.base_url, log_path=tmp_path / "log", serve_args=("--workers", "2")
    ) as live:
        yield live, secret


def test_a_key_s_rate_limit_holds_across_two_workers(
    two_workers: tuple[LiveServer, str],
) -> None:
    server, secret = two_workers
    workers = child_processes(server.pid)
    pinned: dict[int, httpx.Client] = {}
    opened = []
    try:
        while len(pinned) < 2 and len(opened) < 50:  # a keep-alive connection to each worker
            client = httpx.Client(base_url=server.url, timeout=30)
            opened.append(client)
            pinned.setdefault(serving_process(client.get("/healthz"), server.port, workers), client)
        assert len(pinned) == 2, "every connection went to one worker"
        one, two = pinned.values()
        body = {"model": MODEL, "input": "hi"}
        headers = {"Authorization": f"Bearer {secret}"}
        codes = [
            (one if n % 2 else two).post("/v1/responses", json=body, headers=headers).status_code
            for n in range(LIMIT + 4)
        ]
    finally:
        for client in opened:
            client.close()
    # Alternating workers: each admitted half of the key's minute, then both refused.
    assert codes == [200] * LIMIT + [429] * 4


def test_a_key_s_rate_limit_holds_across_two_replicas(fake: FakeUpstream, tmp_path: Path) -> None:
    with temporary_database("limits") as url:
        secret = a_key(url, fake.base_url)
        replicas = [LiveServer(url, fake.base_url, log_path=tmp_path / f"r{n}") for n in (1, 2)]
        with replicas[0], replicas[1]:
            codes = statuses([r.url for r in replicas], secret)
    assert codes.count(200) == LIMIT
    assert codes.count(429) == SENT - LIMIT


def test_a_budget_spent_on_one_replica_stops_the_key_on_the_other(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    prices = {MODEL: {"input": 1_000_000, "output": 1_000_000}}  # a dollar a token
    env = {"THREADLINE_MODEL_PRICES": json.dumps(prices), "THREADLINE_USAGE_FLUSH_SECONDS": "0.2"}
    with temporary_database("budget") as url:
        secret = keys(LiveServer(url, fake.base_url), "create", "alice", "--daily-budget", "5")
        one, two = (
            LiveServer(url, fake.base_url, log_path=tmp_path / f"r{n}", env=env) for n in (1, 2)
        )
        headers = {"Authorization": f"Bearer {secret}"}
        body = {"model": MODEL, "input": "six words to spend the budget"}
        with one, two:
            assert httpx.post(f"{one.url}/v1/responses", json=body, headers=headers).is_success
            time.sleep(1.0)  # replica one writes the key's counters within its flush interval
            refused = httpx.post(f"{two.url}/v1/responses", json=body, headers=headers)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "insufficient_quota"
