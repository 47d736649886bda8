"""Several Threadline processes on one database: replicas on PostgreSQL, and one server with
`--workers 2` on a SQLite file."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer
from tests.postgres import temporary_database


@pytest.fixture(scope="module")
def replicas(
    fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two servers on one fresh PostgreSQL database, started at the same moment, so both run
    the start-up migration together."""
    directory = tmp_path_factory.mktemp("replicas")
    with temporary_database("replicas") as url, ExitStack() as running:
        servers = [
            LiveServer(url, fake.base_url, log_path=directory / f"replica-{n}.log") for n in (1, 2)
        ]
        for server in servers:
            running.callback(server.stop)
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(LiveServer.start, servers))
        yield servers[0], servers[1]


def two_workers(fake: FakeUpstream, directory: Path) -> LiveServer:
    """`threadline serve --workers 2` on a SQLite file in `directory` (not started)."""
    return LiveServer(
        str(directory / "threadline.db"),
        fake.base_url,
        log_path=directory / "server.log",
        serve_args=("--workers", "2"),
    )


@pytest.fixture(scope="module")
def workers(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with two_workers(fake, tmp_path_factory.mktemp("workers")) as live:
        yield live
