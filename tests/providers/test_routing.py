"""Model aliases through a live server and the official SDK: the first deployment down, the turn
succeeds on the next with no error to the client; a failed deployment cools down; `balance`
spreads requests by weight; a refusal of the request is not retried elsewhere."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer, free_port, serving_providers
from tests.tools.background import BackgroundServer
from threadline.engine.api_keys import OPEN_TENANT
from threadline.storage.sql.store import SqlStore


class DownUpstream:
    """An upstream that answers every call with 503 and counts them."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

        async def overloaded(_: Request) -> JSONResponse:
            with self._lock:
                self.calls += 1
            error = {"message": "overloaded", "type": "server_error", "code": None}
            return JSONResponse({"error": error}, status_code=503)

        self._server = BackgroundServer(
            Starlette(routes=[Route("/v1/chat/completions", overloaded, methods=["POST"])])
        )
        self.base_url = f"{self._server.url}/v1"

    def __enter__(self) -> DownUpstream:
        self._server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.stop()


@pytest.fixture(scope="module")
def down() -> Iterator[DownUpstream]:
    with DownUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def second() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def routed(
    fake: FakeUpstream,
    second: FakeUpstream,
    down: DownUpstream,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("routing")
    refused = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    providers = {
        "main": {"base_url": fake.base_url, "api_key": "k"},
        "backup": {"base_url": second.base_url, "api_key": "k"},
        "busy": {"base_url": down.base_url, "api_key": "k"},
        "gone": {"base_url": refused, "api_key": "k"},
    }
    aliases = {
        "smart": {"deployments": ["gone/fake-model", "busy/fake-model", "backup/fake-model"]},
        "cooled": {"deployments": ["busy/fake-model", "main/fake-model"], "cooldown_seconds": 60},
        "spread": {
            "strategy": "balance",
            "deployments": [
                {"model": "main/fake-model", "weight": 3},
                {"model": "backup/fake-model", "weight": 1},
            ],
        },
        "plain": "backup/fake-model",
    }
    with serving_providers(
        fake.base_url, directory, providers, "main", env={"THREADLINE_ALIASES": json.dumps(aliases)}
    ) as live:
        yield live


@pytest.fixture
def routed_client(routed: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=routed.base_url, api_key="any", max_retries=0)


def test_a_turn_survives_its_first_deployments_being_down(
    routed_client: openai.OpenAI, routed: LiveServer, second: FakeUpstream, down: DownUpstream
) -> None:
    before = len(second.requests)
    response = routed_client.responses.create(model="smart", input="hello")
    assert response.status == "completed"
    assert response.output_text == "echo: hello"
    assert response.model == "smart"
    assert len(second.requests) == before + 1
    assert second.last_request()["body"]["model"] == "fake-model"
    assert _stored_settings(routed, response.id)["deployment"] == "backup/fake-model"


def _stored_settings(server: LiveServer, response_id: str) -> dict[str, Any]:
    """The response's stored settings, read from the server's database as an operator would
    (the Response object has no field for which deployment answered)."""

    async def read() -> dict[str, Any]:
        store = SqlStore(f"sqlite+aiosqlite:///{server.database}")
        try:
            stored = await store.get_response(OPEN_TENANT, response_id)
        finally:
            await store.close()
        assert stored is not None
        return stored.record.settings

    return asyncio.run(read())


def test_streaming_falls_over_before_the_first_token(
    routed_client: openai.OpenAI, second: FakeUpstream
) -> None:
    with routed_client.responses.stream(model="smart", input="streamed hello") as stream:
        final = stream.get_final_response()
    assert final.output_text == "echo: streamed hello"


def test_a_failed_deployment_cools_down(
    routed_client: openai.OpenAI, fake: FakeUpstream, down: DownUpstream
) -> None:
    calls = down.calls
    first = routed_client.responses.create(model="cooled", input="one")
    second = routed_client.responses.create(model="cooled", input="two")
    assert (first.output_text, second.output_text) == ("echo: one", "echo: two")
    assert down.calls == calls + 1  # tried once, then passed over while cooling down


def test_balance_spreads_requests_by_weight(
    routed_client: openai.OpenAI, fake: FakeUpstream, second: FakeUpstream
) -> None:
    main_before, backup_before = len(fake.requests), len(second.requests)
    for number in range(60):
        routed_client.chat.completions.create(
            model="spread", messages=[{"role": "user", "content": f"n{number}"}]
        )
    to_main = len(fake.requests) - main_before
    to_backup = len(second.requests) - backup_before
    assert to_main + to_backup == 60
    assert to_backup > 0 and to_main > to_backup


def test_a_refused_request_is_not_tried_elsewhere(
    routed_client: openai.OpenAI, second: FakeUpstream
) -> None:
    before = len(second.requests)
    with pytest.raises(openai.BadRequestError):
        routed_client.responses.create(model="plain", input="fail 400 bad request")
    assert len(second.requests) == before + 1


def test_aliases_are_listed_as_models(routed_client: openai.OpenAI) -> None:
    names = {model.id for model in routed_client.models.list()}
    assert {"smart", "cooled", "spread", "plain"} <= names


def test_an_alias_naming_no_provider_stops_start_up(tmp_path: Path, fake: FakeUpstream) -> None:
    two = {"a": {"base_url": fake.base_url}, "b": {"base_url": fake.base_url}}
    env = {
        "THREADLINE_PROVIDERS": json.dumps(two),  # and no default provider
        "THREADLINE_ALIASES": json.dumps({"x": "nowhere/model"}),
    }
    server = LiveServer(str(tmp_path / "t.db"), fake.base_url, env=env, log_path=tmp_path / "log")
    with pytest.raises(RuntimeError):
        server.start()
    assert "alias 'x'" in (tmp_path / "log").read_text()
