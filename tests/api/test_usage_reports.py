"""The usage ledger as its readers see it: OpenAI's usage and cost reports for a tenant, and
`threadline usage` for the operator. Every model call is one row, with its key, end user,
model, tokens and cost."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import httpx
import openai

from tests.api.test_background_responses import wait_for
from tests.api.test_key_limits import client_for, key_with, keys, priced_server
from tests.conftest import MODEL
from tests.live_server import LiveServer
from tests.spec_transport import checked_http_client

__all__ = ["priced_server"]  # the fixture, imported to be used here


def report(server: LiveServer, secret: str, path: str, **params: Any) -> dict[str, Any]:
    with checked_http_client(timeout=30) as http:  # bodies checked against OpenAI's schema
        answer = http.get(
            f"{server.base_url}/organization/{path}",
            params={"start_time": int(time.time()) - 3600, **params},
            headers={"Authorization": f"Bearer {secret}"},
        )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def results(page: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for bucket in page["data"] for r in bucket["results"]]


def test_every_kind_of_model_call_is_reported_with_its_tokens_and_key(
    priced_server: LiveServer,
) -> None:
    secret = key_with(priced_server, "alice")
    alice = client_for(priced_server, secret)
    answered = alice.responses.create(model=MODEL, input="hello there", safety_identifier="u-1")
    chat = alice.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "one two"}], user="u-2"
    )
    alice.embeddings.create(model=MODEL, input="three words here")
    assert answered.usage is not None and chat.usage is not None

    page = report(
        priced_server, secret, "usage/completions", bucket_width="1h", group_by=["user_id"]
    )
    assert page["object"] == "page"
    assert all(bucket["object"] == "bucket" for bucket in page["data"])
    by_user = {r["user_id"]: r for r in results(page)}
    assert by_user["u-1"]["input_tokens"] == answered.usage.input_tokens
    assert by_user["u-1"]["output_tokens"] == answered.usage.output_tokens
    assert by_user["u-2"]["input_tokens"] == chat.usage.prompt_tokens
    assert by_user["u-2"]["num_model_requests"] == 1
    assert by_user["u-1"]["object"] == "organization.usage.completions.result"
    assert by_user["u-1"]["api_key_id"] is None  # not grouped by key

    (keyed,) = results(report(priced_server, secret, "usage/completions", group_by=["api_key_id"]))
    key_id = json.loads(keys(priced_server, "list", "--json"))[0]["id"]
    assert (keyed["api_key_id"], keyed["num_model_requests"]) == (key_id, 2)

    (embedded,) = results(report(priced_server, secret, "usage/embeddings"))
    assert (embedded["input_tokens"], embedded["num_model_requests"]) == (3, 1)


def test_costs_follow_the_price_table(priced_server: LiveServer) -> None:
    secret = key_with(priced_server, "alice")
    alice = client_for(priced_server, secret)
    answered = alice.responses.create(model=MODEL, input="hello there")
    assert answered.usage is not None
    expected = answered.usage.input_tokens * 1.0 + answered.usage.output_tokens * 2.0
    page = report(priced_server, secret, "costs", group_by=["line_item"])
    (cost,) = results(page)
    assert cost["object"] == "organization.costs.result"
    assert cost["amount"] == {"value": expected, "currency": "usd"}
    assert cost["line_item"] == MODEL
    (by_key,) = results(report(priced_server, secret, "costs", group_by=["api_key_id"]))
    assert by_key["api_key_id"] == json.loads(keys(priced_server, "list", "--json"))[0]["id"]
    assert by_key["line_item"] is None
    # No call here is a Batch API job's.
    assert results(report(priced_server, secret, "usage/completions", batch="true")) == []


def test_a_tenant_reads_only_its_own_usage(priced_server: LiveServer) -> None:
    alice_secret = keys(priced_server, "create", "alice")
    bob_secret = key_with(priced_server, "bob")
    client_for(priced_server, alice_secret).responses.create(model=MODEL, input="mine")
    assert results(report(priced_server, bob_secret, "usage/completions")) == []
    assert results(report(priced_server, alice_secret, "usage/completions"))
    # Naming another project finds nothing either.
    other = report(priced_server, alice_secret, "usage/completions", project_ids=["bob"])
    assert results(other) == []


def test_a_background_response_is_charged_to_the_key_that_queued_it(
    priced_server: LiveServer,
) -> None:
    secret = key_with(priced_server, "alice")
    alice = client_for(priced_server, secret)
    queued = alice.responses.create(model=MODEL, input="later please", background=True)
    wait_for(alice, queued.id, ("completed",))
    key_id = json.loads(keys(priced_server, "list", "--json"))[0]["id"]
    (row,) = results(report(priced_server, secret, "usage/completions", group_by=["api_key_id"]))
    assert row["api_key_id"] == key_id


def test_reports_page_through_buckets_with_a_cursor(priced_server: LiveServer) -> None:
    secret = key_with(priced_server, "alice")
    start = int(time.time()) // 60 * 60 - 5 * 60
    first = report(
        priced_server, secret, "usage/completions", start_time=start, bucket_width="1m", limit=2
    )
    assert len(first["data"]) == 2 and first["has_more"] is True
    assert first["data"][1]["start_time"] == first["data"][0]["end_time"] == start + 60
    second = report(
        priced_server,
        secret,
        "usage/completions",
        start_time=start,
        bucket_width="1m",
        limit=2,
        page=first["next_page"],
    )
    assert second["data"][0]["start_time"] == start + 120


def test_a_report_names_what_it_cannot_group_by(priced_server: LiveServer) -> None:
    secret = key_with(priced_server, "alice")
    answer = httpx.get(
        f"{priced_server.base_url}/organization/usage/completions",
        params={"start_time": 0, "group_by": ["batch"]},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "group_by[0]"
    missing = httpx.get(
        f"{priced_server.base_url}/organization/costs",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert missing.status_code == 400
    assert missing.json()["error"]["param"] == "start_time"


def test_the_operator_reads_every_tenant_s_usage_from_the_command_line(
    priced_server: LiveServer,
) -> None:
    alice = client_for(priced_server, keys(priced_server, "create", "alice"))
    bob = client_for(priced_server, key_with(priced_server, "bob"))
    alice.responses.create(model=MODEL, input="a b c", user="ann")
    bob.responses.create(model=MODEL, input="d e", user="ben")
    priced_server.stop()  # a stopping server writes the ledger rows it holds
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "threadline",
            "usage",
            "--by",
            "day,tenant,user",
            "--format",
            "json",
            "--db",
            priced_server.database,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = {(r["tenant"], r["user"]): r for r in json.loads(shown.stdout)}
    assert set(rows) == {("alice", "ann"), ("bob", "ben")}
    assert rows[("alice", "ann")]["input_tokens"] == 3
    assert rows[("alice", "ann")]["cost_usd"] == 3 * 1.0 + 4 * 2.0  # "echo: a b c"
    assert rows[("alice", "ann")]["period"]


def test_an_open_server_charges_its_default_tenant(server: LiveServer) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key="any", max_retries=0)
    client.responses.create(model=MODEL, input="open usage", user="anon-user")
    page = report(server, "any", "usage/completions", group_by=["user_id", "project_id"])
    rows = [r for r in results(page) if r["user_id"] == "anon-user"]
    assert rows and rows[0]["project_id"] == "default"


def test_a_time_past_the_year_9999_is_refused_not_overflowed(priced_server: LiveServer) -> None:
    secret = key_with(priced_server, "alice")
    for path in ("usage/completions", "usage/embeddings", "costs"):
        answer = httpx.get(
            f"{priced_server.base_url}/organization/{path}",
            params={"start_time": 0, "end_time": 11008574204147793202404917248},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert answer.status_code == 400, path
        assert answer.json()["error"]["param"] == "end_time"
