"""Webhooks through the official SDK: endpoints made with `client.webhooks`, events of
background responses delivered signed (verified by `client.webhooks.unwrap`), retried when
the receiver fails, and kept in a delivery log."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import httpx
import openai
import pytest
from typer.testing import CliRunner

from tests.api.test_errors import assert_envelope
from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer
from threadline.cli.main import app


class Receiver:
    """An HTTP endpoint that records every POST and answers `failures` 500s first."""

    def __init__(self, failures: int = 0) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.failures = failures
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.arrived:
                    receiver.received.append((body, dict(self.headers.items())))
                    failing = receiver.failures > 0
                    receiver.failures -= 1
                    receiver.arrived.notify_all()
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 20) -> list[tuple[bytes, dict[str, str]]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), (
                f"{len(self.received)} of {count} deliveries arrived"
            )
            return list(self.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def hooked(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server that may deliver to loopback receivers, retrying fast."""
    directory = tmp_path_factory.mktemp("webhooks")
    env = {
        "THREADLINE_OUTBOUND_ALLOW_PRIVATE": "true",
        "THREADLINE_WEBHOOK_RETRY_SECONDS": "0.2",
        "THREADLINE_BACKGROUND_POLL_INTERVAL": "0.1",
    }
    with LiveServer(
        str(directory / "t.db"), fake.base_url, env=env, log_path=directory / "log"
    ) as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


def sdk(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)


def test_webhook_endpoints_are_managed_with_the_sdk(hooked: LiveServer) -> None:
    client = sdk(hooked)
    created = client.webhooks.create(
        name="ops", url="https://example.com/hook", event_types=["response.completed"]
    )
    assert created.signing_secret.startswith("whsec_")
    assert created.signing_secret_hint and created.signing_secret not in str(
        client.webhooks.retrieve(created.id).model_dump()
    )
    updated = client.webhooks.update(created.id, event_types=["response.failed"], name="ops2")
    assert updated.event_types == ["response.failed"] and updated.name == "ops2"
    assert created.id in [e.id for e in client.webhooks.list()]
    rotated = client.webhooks.rotate_secret(created.id)
    assert rotated.signing_secret != created.signing_secret
    assert client.webhooks.delete(created.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.webhooks.retrieve(created.id)


def test_a_completed_background_response_is_delivered_signed(
    hooked: LiveServer, receiver: Receiver
) -> None:
    client = sdk(hooked)
    endpoint = client.webhooks.create(
        name="done", url=receiver.url, event_types=["response.completed"]
    )
    try:
        response = client.responses.create(model=MODEL, input="notify me", background=True)
        [(body, headers)] = receiver.wait_for(1)
        event = client.webhooks.unwrap(body, headers, secret=endpoint.signing_secret)
        assert event.type == "response.completed"
        assert event.data.id == response.id
        with pytest.raises(openai.InvalidWebhookSignatureError):
            client.webhooks.unwrap(
                body, headers, secret=client.webhooks.rotate_secret(endpoint.id).signing_secret
            )
    finally:
        client.webhooks.delete(endpoint.id)


def test_a_delivery_is_retried_after_the_receiver_fails_twice(
    hooked: LiveServer, receiver: Receiver
) -> None:
    client = sdk(hooked)
    receiver.failures = 2
    endpoint = client.webhooks.create(
        name="flaky", url=receiver.url, event_types=["response.cancelled"]
    )
    try:
        response = client.responses.create(model=MODEL, input="slow 10", background=True)
        client.responses.cancel(response.id)
        received = receiver.wait_for(3)
        assert len({headers["webhook-id"] for _, headers in received}) == 1  # one message
        event = client.webhooks.unwrap(*received[-1], secret=endpoint.signing_secret)
        assert event.type == "response.cancelled" and event.data.id == response.id
    finally:
        client.webhooks.delete(endpoint.id)


def test_bad_endpoints_are_refused_naming_the_parameter(hooked: LiveServer) -> None:
    url = f"{hooked.url}/v1/webhook_endpoints"
    for body, param in (
        ({"name": "x", "url": "ftp://example.com", "event_types": ["response.completed"]}, "url"),
        (
            {"name": "x", "url": "https://example.com", "event_types": ["batch.completed"]},
            "event_types[0]",
        ),
        ({"name": "x", "url": "https://example.com", "event_types": []}, "event_types"),
        ({"name": " ", "url": "https://example.com", "event_types": ["response.failed"]}, "name"),
    ):
        assert_envelope(httpx.post(url, json=body), 400, param=param)


def test_a_server_refuses_webhooks_to_its_own_network(
    server: LiveServer, receiver: Receiver
) -> None:
    refused = httpx.post(
        f"{server.url}/v1/webhook_endpoints",
        json={"name": "inside", "url": receiver.url, "event_types": ["response.completed"]},
    )
    error = assert_envelope(refused, 400, param="url")
    assert "Refused to connect" in error["message"]
    assert receiver.received == []


def test_a_webhook_url_whose_host_does_not_resolve_is_refused(server: LiveServer) -> None:
    refused = httpx.post(
        f"{server.url}/v1/webhook_endpoints",
        json={
            "name": "nowhere",
            "url": "https://hooks.nowhere.invalid/in",
            "event_types": ["response.completed"],
        },
    )
    error = assert_envelope(refused, 400, param="url")
    assert "resolve" in error["message"]


def _logged(server: LiveServer, response_id: str) -> dict[str, Any]:
    """The delivery of `response_id`'s event in `threadline webhooks deliveries --json`."""
    shown = CliRunner().invoke(app, ["webhooks", "deliveries", "--json", "--db", server.database])
    assert shown.exit_code == 0, shown.output
    [mine] = [d for d in json.loads(shown.stdout) if response_id in d["payload"]]
    return cast(dict[str, Any], mine)


def test_the_delivery_log_shows_attempts_and_redelivers(
    hooked: LiveServer, receiver: Receiver
) -> None:
    client = sdk(hooked)
    endpoint = client.webhooks.create(
        name="log", url=receiver.url, event_types=["response.completed"]
    )
    try:
        response = client.responses.create(model=MODEL, input="log me", background=True)
        receiver.wait_for(1)
        deadline = time.monotonic() + 10
        while (mine := _logged(hooked, response.id))["status"] != "delivered":
            assert time.monotonic() < deadline, mine
            time.sleep(0.05)
        assert mine["attempts"] == 1 and mine["endpoint_id"] == endpoint.id
        redone = CliRunner().invoke(
            app, ["webhooks", "redeliver", mine["id"], "--db", hooked.database]
        )
        assert redone.exit_code == 0, redone.output
        assert len(receiver.wait_for(2)) == 2
    finally:
        client.webhooks.delete(endpoint.id)
