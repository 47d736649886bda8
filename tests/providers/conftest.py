"""The server with one provider of every kind (openai-chat `chat`, anthropic `claude`,
openai-responses `oai`), all on the fake upstream, for the tests of this package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer, serving_providers


@pytest.fixture(scope="module")
def kinds_server(
    fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("kinds")
    providers = {
        "chat": {"base_url": fake.base_url, "api_key": "k"},
        "claude": {"kind": "anthropic", "base_url": fake.base_url, "api_key": "sk-ant"},
        "oai": {"kind": "openai-responses", "base_url": fake.base_url, "api_key": "sk-oai"},
    }
    with serving_providers(fake.base_url, directory, providers, "chat") as live:
        yield live
