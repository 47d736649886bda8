"""The API suites of tests/api, run again with the server on PostgreSQL.

Overriding `server` here swaps the backend under every fixture built on it (`client`, `http`)
for the test modules of this package, which import the tests of tests/api unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer
from tests.postgres import temporary_database


@pytest.fixture(scope="package")
def server(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for this package, running open, on a PostgreSQL database of its own."""
    directory = tmp_path_factory.mktemp("server-postgres")
    with (
        temporary_database("api") as url,
        LiveServer(url, fake.base_url, log_path=directory / "server.log") as live,
    ):
        yield live
