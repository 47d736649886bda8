"""What `file_url` parts may cost one request: how many, how many bytes in all (cut as they
arrive) and how long; and an unchanged file is revalidated, not downloaded again, on later turns
(kept per tenant)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.api.test_tenancy import create_key
from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer
from tests.tools.file_host import FileHost

MAX_PARTS = 3
MAX_REQUEST_BYTES = 300_000
TIMEOUT = 2


@pytest.fixture(scope="module")
def host() -> Iterator[FileHost]:
    with FileHost() as server:
        yield server


@pytest.fixture(scope="module")
def tenants(
    fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[openai.OpenAI, openai.OpenAI]]:
    directory: Path = tmp_path_factory.mktemp("file_url")
    env = {
        "THREADLINE_OUTBOUND_ALLOW_PRIVATE": "true",
        "THREADLINE_DATA_DIR": str(directory / "data"),
        "THREADLINE_MAX_FILE_BYTES": "200000",
        "THREADLINE_FILE_URL_MAX_PARTS": str(MAX_PARTS),
        "THREADLINE_FILE_URL_MAX_REQUEST_BYTES": str(MAX_REQUEST_BYTES),
        "THREADLINE_OUTBOUND_TIMEOUT": str(TIMEOUT),
    }
    with LiveServer(
        str(directory / "t.db"), fake.base_url, env=env, log_path=directory / "log"
    ) as live:
        key_a, key_b = create_key(live, "alice"), create_key(live, "bob")
        live.restart()
        yield (
            openai.OpenAI(base_url=live.base_url, api_key=key_a, max_retries=0),
            openai.OpenAI(base_url=live.base_url, api_key=key_b, max_retries=0),
        )


@pytest.fixture
def client(tenants: tuple[openai.OpenAI, openai.OpenAI]) -> openai.OpenAI:
    return tenants[0]


def files(*urls: str, text: str = "what do they say?") -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"type": "input_file", "file_url": url} for url in urls]
    return [{"role": "user", "content": [*parts, {"type": "input_text", "text": text}]}]


def test_an_unchanged_file_url_is_revalidated_not_downloaded_again(
    client: openai.OpenAI, host: FileHost, fake: FakeUpstream
) -> None:
    url = host.put("notes.txt", b"The dice are loaded.", '"v1"')
    first = client.responses.create(model=MODEL, input=files(url))
    second = client.responses.create(model=MODEL, input="and?", previous_response_id=first.id)
    assert "The dice are loaded." in fake.last_request()["body"]["messages"][0]["content"]
    assert (host.downloads["notes.txt"], host.revalidations["notes.txt"]) == (1, 1)

    host.put("notes.txt", b"The dice are fair.", '"v2"')
    client.responses.create(model=MODEL, input="now?", previous_response_id=second.id)
    assert "The dice are fair." in fake.last_request()["body"]["messages"][0]["content"]
    assert host.downloads["notes.txt"] == 2


def test_a_file_url_kept_for_one_tenant_is_downloaded_afresh_for_another(
    tenants: tuple[openai.OpenAI, openai.OpenAI], host: FileHost
) -> None:
    alice, bob = tenants
    url = host.put("shared.txt", b"Shared words.", '"s1"')
    alice.responses.create(model=MODEL, input=files(url))
    bob.responses.create(model=MODEL, input=files(url))
    assert host.downloads["shared.txt"] == 2
    assert "shared.txt" not in host.revalidations
    alice.responses.create(model=MODEL, input=files(url))
    assert (host.downloads["shared.txt"], host.revalidations["shared.txt"]) == (2, 1)


def test_more_file_url_parts_than_the_limit_is_a_400_naming_the_part(
    client: openai.OpenAI, host: FileHost, fake: FakeUpstream
) -> None:
    urls = [host.put(f"part{n}.txt", b"words", f'"p{n}"') for n in range(MAX_PARTS + 1)]
    calls = len(fake.requests)
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model=MODEL, input=files(*urls))
    error = raised.value.body
    assert isinstance(error, dict)
    assert error["param"] == f"input[0].content[{MAX_PARTS}]"
    assert "THREADLINE_FILE_URL_MAX_PARTS" in error["message"]
    assert len(fake.requests) == calls  # the model was not called


def test_a_file_url_past_the_requests_byte_limit_is_cut_as_it_arrives(
    client: openai.OpenAI, host: FileHost
) -> None:
    big = host.put("big.txt", b"y" * 150_000, '"b1"')
    sent_before = host.endless_sent
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model=MODEL, input=files(big, f"{host.url}/endless"))
    error = raised.value.body
    assert isinstance(error, dict)
    assert error["param"] == "input[0].content[1]"
    assert "THREADLINE_FILE_URL_MAX_REQUEST_BYTES" in error["message"]
    # An endless body: only a download cut as it arrives can have ended.
    assert host.endless_sent - sent_before < 20 * 1024 * 1024


def test_a_file_url_that_drips_is_cut_at_the_requests_deadline(
    client: openai.OpenAI, host: FileHost
) -> None:
    started = time.monotonic()
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model=MODEL, input=files(f"{host.url}/drip"))
    assert time.monotonic() - started < TIMEOUT + 3
    error = raised.value.body
    assert isinstance(error, dict)
    assert error["param"] == "input[0].content[0]"
    assert "THREADLINE_OUTBOUND_TIMEOUT" in error["message"]


def test_a_new_file_url_is_given_before_the_historys_oldest(
    client: openai.OpenAI, host: FileHost, fake: FakeUpstream
) -> None:
    old = [host.put(f"old{n}.txt", f"old {n}".encode(), f'"o{n}"') for n in range(MAX_PARTS)]
    first = client.responses.create(model=MODEL, input=files(*old))
    new = host.put("new.txt", b"brand new", '"n1"')
    second = client.responses.create(model=MODEL, input=files(new), previous_response_id=first.id)
    assert second.status == "completed"
    history, _, latest = fake.last_request()["body"]["messages"]
    assert "brand new" in latest["content"]
    assert "Not fetched" in history["content"] and "old0.txt" in history["content"]
    assert "old 1" in history["content"] and "old 2" in history["content"]


def test_a_redirect_is_checked_by_the_outbound_guard_at_every_hop(
    fake: FakeUpstream, host: FileHost, tmp_path: Path
) -> None:
    """`localhost` is allowed by name; the redirect's target, 127.0.0.1, is not."""
    host.put("private.txt", b"internal only", '"i1"')
    port = host.url.rsplit(":", 1)[1]
    env = {"THREADLINE_OUTBOUND_ALLOWED_HOSTS": "localhost"}
    with LiveServer(str(tmp_path / "t.db"), fake.base_url, env=env) as live:
        guarded = openai.OpenAI(base_url=live.base_url, api_key="k", max_retries=0)
        with pytest.raises(openai.BadRequestError) as raised:
            guarded.responses.create(
                model=MODEL, input=files(f"http://localhost:{port}/redirect/private.txt")
            )
    assert "loopback, private or reserved" in raised.value.message
    assert "private.txt" not in host.downloads
