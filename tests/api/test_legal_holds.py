"""Legal holds from the command line, against a running server: a held end user survives an
erasure, which says why, until the hold is released; both acts are in the audit log."""

from __future__ import annotations

import json
import subprocess
import sys

import openai
import pytest

from tests.conftest import MODEL
from tests.live_server import LiveServer


def cli(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "threadline", *args, "--db", server.database],
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_held_end_user_is_kept_by_erasure_until_released(fresh_server: LiveServer) -> None:
    client = openai.OpenAI(base_url=fresh_server.base_url, api_key="open", max_retries=0)
    kept = client.responses.create(model=MODEL, input="evidence", user="ann")
    tenant = ["--tenant", "default"]
    placed = cli(fresh_server, "holds", "place", *tenant, "--user", "ann", "--reason", "case 42")
    assert placed.returncode == 0, placed.stderr
    listed = json.loads(cli(fresh_server, "holds", "list", "--json").stdout)
    assert listed == [
        {"tenant": "default", "kind": "end_user", "target": "user:ann", "reason": "case 42"}
    ]

    refused = cli(fresh_server, "erase", *tenant, "--user", "ann", "--yes")
    receipt = json.loads(refused.stdout)
    assert (receipt["held"], receipt["responses"]) == ("end_user", 0)
    assert client.responses.retrieve(kept.id).id == kept.id

    assert cli(fresh_server, "holds", "release", *tenant, "--user", "ann").returncode == 0
    assert cli(fresh_server, "holds", "release", *tenant, "--user", "ann").returncode == 1
    erased = json.loads(cli(fresh_server, "erase", *tenant, "--user", "ann", "--yes").stdout)
    assert (erased["held"], erased["responses"]) == (None, 1)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(kept.id)

    audit = cli(fresh_server, "audit", "--json").stdout.splitlines()
    assert [json.loads(line)["type"] for line in audit] == [
        "end_user.erased",
        "legal_hold.released",
        "end_user.erasure_held",
        "legal_hold.placed",
    ]


def test_a_hold_names_what_it_holds_once(fresh_server: LiveServer) -> None:
    both = cli(fresh_server, "holds", "place", "--tenant", "t", "--reason", "r", "--whole-tenant")
    assert both.returncode == 0
    twice = cli(
        fresh_server, "holds", "place", "--tenant", "t", "--reason", "r", "--whole-tenant",
        "--user", "ann",
    )  # fmt: skip
    assert twice.returncode == 2
