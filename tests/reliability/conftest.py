"""Servers configured for fault tests: retries on, short timeouts, a provider that is down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer, free_port


@pytest.fixture(scope="module")
def faulty_server(
    fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("faults")
    config = directory / "threadline.toml"
    config.write_text(
        f"""
default_provider = "fake"

[providers.fake]
base_url = "{fake.base_url}"
api_key = "upstream-secret"

[providers.down]
base_url = "http://127.0.0.1:{free_port()}/v1"
"""
    )
    env = {
        "THREADLINE_CONFIG": str(config),
        "THREADLINE_UPSTREAM_MAX_RETRIES": "2",
        "THREADLINE_UPSTREAM_RETRY_BACKOFF": "0.05",
        "THREADLINE_UPSTREAM_READ_TIMEOUT": "1",
    }
    with LiveServer(
        str(directory / "t.db"), fake.base_url, env=env, log_path=directory / "server.log"
    ) as live:
        yield live


def server_log(server: LiveServer) -> str:
    assert server.log_path is not None
    return Path(server.log_path).read_text(errors="replace")
