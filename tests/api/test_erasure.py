"""`threadline erase` against a running server: one end user's responses and conversations
are gone for every client, the others' stay, and the ledger forgets the name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from tests.api.test_usage_reports import report, results
from tests.conftest import MODEL
from tests.live_server import LiveServer


def erase(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "threadline", "erase", "--tenant", "default", *args]
    return subprocess.run(
        [*command, "--db", server.database],
        capture_output=True,
        text=True,
        check=False,
    )


def test_erasing_an_end_user_removes_what_they_produced_and_nothing_else(
    fresh_server: LiveServer,
) -> None:
    client = openai.OpenAI(base_url=fresh_server.base_url, api_key="open", max_retries=0)
    mine = client.responses.create(model=MODEL, input="my secret", user="ann")
    thread = client.conversations.create()
    client.responses.create(model=MODEL, input="in a thread", user="ann", conversation=thread.id)
    theirs = client.responses.create(model=MODEL, input="not hers", user="bob")

    counted = erase(fresh_server, "--user", "ann", "--dry-run")
    assert counted.returncode == 0, counted.stderr
    receipt = json.loads(counted.stdout)
    assert (receipt["object"], receipt["dry_run"]) == ("erasure.receipt", True)
    assert (receipt["responses"], receipt["conversations"]) == (2, 1)
    assert client.responses.retrieve(mine.id).id == mine.id  # counted, not deleted

    refused = erase(fresh_server, "--user", "ann")
    assert refused.returncode == 2 and "--yes" in refused.stderr

    done = erase(fresh_server, "--user", "ann", "--yes")
    assert done.returncode == 0, done.stderr
    receipt = json.loads(done.stdout)
    assert (receipt["responses"], receipt["conversations"]) == (2, 1)
    assert receipt["usage_rows_anonymized"] == 2
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(thread.id)
    assert client.responses.retrieve(theirs.id).output_text == "echo: not hers"
    users = results(report(fresh_server, "open", "usage/completions", group_by=["user_id"]))
    assert sorted(str(r["user_id"]) for r in users) == ["None", "bob"]


def test_an_erasure_names_its_end_user_once(fresh_server: LiveServer) -> None:
    both = erase(fresh_server, "--user", "a", "--safety-identifier", "b", "--dry-run")
    assert both.returncode == 2
    bad = erase(fresh_server, "--metadata", "no-equals-sign", "--dry-run")
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr


def test_erasing_a_tenant_from_the_command_line_counts_first_then_deletes_it_all(
    fresh_server: LiveServer,
) -> None:
    client = openai.OpenAI(base_url=fresh_server.base_url, api_key="open", max_retries=0)
    alone = client.responses.create(model=MODEL, input="on its own", user="ann")
    thread = client.conversations.create()
    client.responses.create(model=MODEL, input="in a thread", conversation=thread.id)
    uploaded = client.files.create(file=("notes.txt", b"some notes"), purpose="user_data")

    # The files are where the server keeps them: the same data directory.
    env = {**os.environ, "THREADLINE_DATA_DIR": str(Path(fresh_server.database).parent / "data")}

    def erase_tenant(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "threadline", "erase-tenant", "default", *args]
        return subprocess.run(
            [*command, "--db", fresh_server.database],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    counted = json.loads(erase_tenant("--dry-run").stdout)
    assert (counted["object"], counted["dry_run"]) == ("tenant_erasure.receipt", True)
    assert (counted["responses"], counted["conversations"], counted["files"]) == (1, 1, 1)
    assert client.responses.retrieve(alone.id).id == alone.id
    assert erase_tenant().returncode == 2

    done = erase_tenant("--yes")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["conversations"] == 1
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(alone.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(thread.id)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)
