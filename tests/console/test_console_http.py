"""The console's guards, as a client without a browser meets them: what is refused, and the
headers that keep a page's content to itself."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import openai
import pytest

from tests.conftest import MODEL
from tests.console.conftest import ADMIN_KEY, ConsoleServer
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer


@pytest.fixture
def signed_in(console_server: ConsoleServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console_server.url, timeout=30) as http:
        answer = http.post("/console/sign-in", data={"admin_key": ADMIN_KEY})
        assert answer.status_code == 303
        yield http


def form_token(http: httpx.Client, path: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', http.get(path).text)
    assert found is not None
    return found.group(1)


def test_every_page_asks_for_sign_in_first(console_server: ConsoleServer) -> None:
    with httpx.Client(base_url=console_server.url, timeout=30) as http:
        for path in ("/console/conversations", "/console/usage", "/console/keys", "/console/audit"):
            answer = http.get(path)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/console/sign-in?next=")
        refused = http.post("/console/keys", data={"name": "sneaky"})
        assert refused.status_code == 303
        assert "sneaky" not in http.get("/console/keys").text


def test_an_api_key_opens_no_console_page(console_server: ConsoleServer) -> None:
    bearer = {"Authorization": f"Bearer {console_server.tenant_key}"}
    with httpx.Client(base_url=console_server.url, headers=bearer, timeout=30) as http:
        assert http.get("/console/keys").status_code == 303


def test_a_forged_or_stale_form_is_refused(signed_in: httpx.Client) -> None:
    answer = signed_in.post("/console/keys", data={"form_token": "0" * 64, "name": "forged"})
    assert answer.status_code == 403
    assert "forged" not in signed_in.get("/console/keys").text


def test_a_tampered_or_expired_session_cookie_is_not_signed_in(
    console_server: ConsoleServer,
) -> None:
    for cookie in ("9999999999.00", "1000.abc", "garbage"):
        with httpx.Client(
            base_url=console_server.url, cookies={"threadline_console": cookie}, timeout=30
        ) as http:
            assert http.get("/console/keys").status_code == 303


def test_signing_in_never_sends_the_browser_off_the_console(
    console_server: ConsoleServer,
) -> None:
    with httpx.Client(base_url=console_server.url, timeout=30) as http:
        for target in ("https://evil.example/", "//evil.example/console", "/v1/responses"):
            answer = http.post("/console/sign-in", data={"admin_key": ADMIN_KEY, "next": target})
            assert answer.headers["location"] == "/console/conversations"


def test_the_session_cookie_is_http_only_strict_and_scoped_to_the_console(
    console_server: ConsoleServer,
) -> None:
    with httpx.Client(base_url=console_server.url, timeout=30) as http:
        cookie = http.post("/console/sign-in", data={"admin_key": ADMIN_KEY}).headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/console" in cookie


def test_pages_run_no_script_and_load_nothing_from_elsewhere(signed_in: httpx.Client) -> None:
    page = signed_in.get("/console/usage")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "<script" not in page.text.lower()
    assert page.headers["cache-control"] == "no-store"


def test_stored_markup_is_shown_as_text_never_run(
    signed_in: httpx.Client, console_server: ConsoleServer
) -> None:
    bearer = {"Authorization": f"Bearer {console_server.tenant_key}"}
    created = httpx.post(
        console_server.live.base_url + "/conversations",
        headers=bearer,
        json={"items": [{"type": "message", "role": "user", "content": "<b id=x>hi</b>"}]},
        timeout=30,
    ).json()
    token = form_token(signed_in, f"/console/conversations/{created['id']}?tenant=acme")
    shown = signed_in.post(
        f"/console/conversations/{created['id']}/reveal",
        data={"form_token": token, "tenant": "acme"},
    )
    assert "&lt;b id=x&gt;hi&lt;/b&gt;" in shown.text
    assert "<b id=x>" not in shown.text


def test_a_bad_value_in_a_page_s_address_is_a_page_that_names_it(
    signed_in: httpx.Client,
) -> None:
    page = signed_in.get("/console/usage", params={"days": "many"})
    assert page.status_code == 400
    assert "text/html" in page.headers["content-type"]
    assert "days" in page.text
    bad_date = signed_in.get("/console/conversations", params={"created_from": "yesterday"})
    assert bad_date.status_code == 400
    assert "created_from must be a date" in bad_date.text


def test_another_tenant_s_conversation_is_not_found_under_the_wrong_tenant(
    signed_in: httpx.Client, console_server: ConsoleServer
) -> None:
    bearer = {"Authorization": f"Bearer {console_server.tenant_key}"}
    created = httpx.post(
        console_server.live.base_url + "/conversations", headers=bearer, json={}, timeout=30
    ).json()
    page = signed_in.get(f"/console/conversations/{created['id']}?tenant=default")
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]


def test_without_an_admin_key_the_console_is_off_and_says_how_to_turn_it_on(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    with LiveServer(str(tmp_path / "threadline.db"), fake.base_url) as live:
        for path in ("/console/sign-in", "/console/conversations"):
            page = httpx.get(live.url + path, timeout=30)
            assert page.status_code == 404
            assert "THREADLINE_ADMIN_KEY" in page.text
        refused = httpx.post(live.url + "/console/sign-in", data={"admin_key": ""}, timeout=30)
        assert refused.status_code == 404


def test_a_key_revoked_in_the_console_is_refused_at_once(
    signed_in: httpx.Client, console_server: ConsoleServer
) -> None:
    token = form_token(signed_in, "/console/keys")
    created = signed_in.post(
        "/console/keys", data={"form_token": token, "name": "short-lived", "tenant": "acme"}
    )
    secret = re.search(r'value="(tl-[^"]+)"', created.text)
    key_id = re.search(
        r"short-lived</td><td>acme</td><td><code>(key_[0-9a-f]+)</code>", created.text
    )
    assert secret is not None and key_id is not None
    bearer = {"Authorization": f"Bearer {secret.group(1)}"}
    models = console_server.live.base_url + "/models"
    assert httpx.get(models, headers=bearer, timeout=30).status_code == 200

    revoked = signed_in.post(f"/console/keys/{key_id.group(1)}/revoke", data={"form_token": token})
    assert revoked.status_code == 303
    assert httpx.get(models, headers=bearer, timeout=30).status_code == 401


def test_a_delete_without_its_confirmation_is_refused_and_deletes_nothing(
    signed_in: httpx.Client, console_server: ConsoleServer
) -> None:
    bearer = {"Authorization": f"Bearer {console_server.tenant_key}"}
    conversations = console_server.live.base_url + "/conversations"
    created = httpx.post(conversations, headers=bearer, json={}, timeout=30).json()
    token = form_token(signed_in, f"/console/conversations/{created['id']}?tenant=acme")
    path = f"/console/conversations/{created['id']}/delete"
    refused = signed_in.post(path, data={"form_token": token, "tenant": "acme"})
    assert refused.status_code == 400 and "Tick the box" in refused.text
    kept = httpx.get(f"{conversations}/{created['id']}", headers=bearer, timeout=30)
    assert kept.status_code == 200
    done = signed_in.post(path, data={"form_token": token, "tenant": "acme", "confirm": "yes"})
    assert done.status_code == 303
    gone = httpx.get(f"{conversations}/{created['id']}", headers=bearer, timeout=30)
    assert gone.status_code == 404


def test_usage_narrowed_to_one_model_shows_that_model_over_time(
    signed_in: httpx.Client, console_server: ConsoleServer
) -> None:
    client = openai.OpenAI(
        base_url=console_server.live.base_url, api_key=console_server.tenant_key, max_retries=0
    )
    client.responses.create(model=MODEL, input="counted under the priced model")
    client.responses.create(model="other-model", input="counted under another")
    rows = re.compile(r'<a href="(/console/usage\?[^"]*model=([^"&]+)[^"]*)" title="model')

    def models_listed(page: httpx.Response) -> set[str]:
        return {unquote(found.group(2)) for found in rows.finditer(page.text)}

    deadline = time.monotonic() + 10  # the ledger is written in batches (usage_flush_seconds)
    while not {MODEL, "other-model"} <= models_listed(signed_in.get("/console/usage")):
        assert time.monotonic() < deadline, "the ledger never showed both models"
        time.sleep(0.2)
    narrowed = signed_in.get("/console/usage", params={"model": "other-model"})
    assert models_listed(narrowed) == {"other-model"}
    assert "Only\nmodel <strong>other-model</strong>" in narrowed.text
    assert 'href="/console/usage?tenant=&amp;days=30&amp;by=model"' in narrowed.text
    by_key = signed_in.get("/console/usage", params={"model": "other-model", "by": "key"})
    assert 'name="model" value="other-model"' in by_key.text  # kept when the form is sent
