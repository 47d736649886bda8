"""Shared fixtures: the fake model upstream and a live Threadline server over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer
from tests.spec import specs_available, unavailable_reason
from tests.spec_transport import checked_http_client


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say when the spec checks that every API test runs were skipped (a fresh clone)."""
    if not specs_available():
        terminalreporter.write_line(unavailable_reason(), yellow=True)


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="session")
def server(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the session, on a SQLite file, running open (no API keys)."""
    directory = tmp_path_factory.mktemp("server")
    with LiveServer(
        str(directory / "threadline.db"), fake.base_url, log_path=directory / "server.log"
    ) as live:
        yield live


@pytest.fixture
def fresh_server(fake: FakeUpstream, tmp_path: Path) -> Iterator[LiveServer]:
    """A server of the test's own, for tests that restart it or create API keys."""
    with LiveServer(
        str(tmp_path / "threadline.db"), fake.base_url, log_path=tmp_path / "server.log"
    ) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.base_url,
        api_key="any-key",
        max_retries=0,
        http_client=checked_http_client(),
    )


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with checked_http_client(base_url=server.url, timeout=30) as raw:
        yield raw


MODEL = "fake-model"


SMALL_BODY_LIMIT = 65_536


@pytest.fixture(scope="session")
def small_body_server(
    fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server that refuses request bodies over SMALL_BODY_LIMIT bytes."""
    directory = tmp_path_factory.mktemp("small-bodies")
    env = {"THREADLINE_MAX_REQUEST_BYTES": str(SMALL_BODY_LIMIT)}
    with LiveServer(
        str(directory / "t.db"), fake.base_url, env=env, log_path=directory / "log"
    ) as live:
        yield live
