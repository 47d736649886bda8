"""`upstream_max_connections` bounds the model calls in flight to one provider: a call beyond it
waits for a connection to be free, then runs."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer

LIMIT = 2
SLOW_S = 3


@pytest.fixture
def own_fake() -> Iterator[FakeUpstream]:
    """A fake of this test's own: its count of requests is this test's alone."""
    with FakeUpstream() as upstream:
        yield upstream


def test_model_calls_beyond_the_connection_limit_wait_for_a_free_connection(
    own_fake: FakeUpstream, tmp_path: Path
) -> None:
    env = {"THREADLINE_UPSTREAM_MAX_CONNECTIONS": str(LIMIT)}
    with (
        LiveServer(str(tmp_path / "t.db"), own_fake.base_url, env=env) as server,
        concurrent.futures.ThreadPoolExecutor(LIMIT + 1) as pool,
    ):
        turns = [
            pool.submit(
                httpx.post,
                f"{server.base_url}/responses",
                json={"model": MODEL, "input": f"slow {SLOW_S}"},
                timeout=60,
            )
            for _ in range(LIMIT + 1)
        ]
        deadline = time.monotonic() + 10
        while len(own_fake.requests) < LIMIT and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert len(own_fake.requests) == LIMIT  # the third waits for a connection
        answers = [turn.result() for turn in turns]
    assert [answer.status_code for answer in answers] == [200] * (LIMIT + 1)
    assert len(own_fake.requests) == LIMIT + 1
