"""The console's browser tests: a keyed server with an admin key, and Debian's Chromium driven
by Playwright (`executable_path`: no browser is downloaded). Without Chromium the tests skip,
saying why; CI installs it (.ci/run).

`THREADLINE_CONSOLE_SCREENSHOTS=DIR` saves a screenshot of each page the tests visit into DIR
(how docs/console.md's pictures are made)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer, create_api_key

ADMIN_KEY = "console-admin-key-for-the-tests-0123456789"
TENANT = "acme"
# A dollar a token in, two dollars a token out: a budget of a few dollars is spent at once.
PRICES = {MODEL: {"input": 1_000_000, "output": 2_000_000}}


def chromium_path() -> str | None:
    given = os.environ.get("THREADLINE_TEST_CHROMIUM")
    if given:
        return given
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Chromium for one test. Not for longer: Playwright's synchronous API keeps an event loop
    of its own running while it is open, and the asyncio tests that share this process (under
    xdist, any may follow) could not run theirs."""
    path = chromium_path()
    if path is None:
        pytest.skip(
            "the console's browser tests need Chromium (Debian's `chromium` package, or "
            "THREADLINE_TEST_CHROMIUM=/path/to/chrome); none was found"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


class ConsoleServer:
    def __init__(self, live: LiveServer, tenant_key: str) -> None:
        self.live = live
        self.tenant_key = tenant_key
        """An API key of tenant `acme`, which the tests' clients use."""

    @property
    def url(self) -> str:
        return self.live.url


@pytest.fixture(scope="session")
def console_server(
    fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleServer]:
    directory = tmp_path_factory.mktemp("console")
    database = str(directory / "threadline.db")
    tenant_key = create_api_key(database, TENANT)
    env = {
        "THREADLINE_ADMIN_KEY": ADMIN_KEY,
        "THREADLINE_MODEL_PRICES": json.dumps(PRICES),
        "THREADLINE_OUTBOUND_ALLOW_PRIVATE": "true",  # a webhook endpoint on loopback
    }
    with LiveServer(database, fake.base_url, env=env, log_path=directory / "server.log") as live:
        yield ConsoleServer(live, tenant_key)


@pytest.fixture
def screenshots() -> Path | None:
    given = os.environ.get("THREADLINE_CONSOLE_SCREENSHOTS")
    if not given:
        return None
    Path(given).mkdir(parents=True, exist_ok=True)
    return Path(given)
