"""Encryption at rest, as an operator runs it: a server with encryption keys keeps no message
in the clear in its database file, serves and searches it as before, exports it, and survives
a key rotation done with `threadline db reencrypt` while it runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import openai

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer
from threadline.storage.encryption import new_key_entry

SECRET = "Xochiquetzal"


def threadline(database: str, env: dict[str, str], *args: str) -> str:
    keys = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    done = subprocess.run(
        [sys.executable, "-m", "threadline", *args, "--db", database],
        capture_output=True,
        text=True,
        env={**keys, **env},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def at_rest(database: str) -> bytes:
    """The database as the disk holds it (with its write-ahead log), lower-cased."""
    files = [Path(database), Path(f"{database}-wal")]
    return b"".join(f.read_bytes() for f in files if f.exists()).lower()


def serving(database: str, fake: FakeUpstream, keys: str, log: Path) -> LiveServer:
    env = {"THREADLINE_ENCRYPTION_KEYS": keys}
    return LiveServer(database, fake.base_url, env=env, log_path=log)


def test_a_server_with_keys_keeps_no_message_in_the_clear_and_still_serves_it(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    database = str(tmp_path / "threadline.db")
    k1, k2 = new_key_entry("k1"), new_key_entry("k2")
    with serving(database, fake, k1, tmp_path / "log") as live:
        client = openai.OpenAI(base_url=live.base_url, api_key="any", max_retries=0)
        thread = client.conversations.create(
            items=[{"type": "message", "role": "user", "content": f"{SECRET} is listening"}]
        )
        answer = client.responses.create(
            model=MODEL,
            input=f"Tell me of {SECRET}",
            instructions=f"Answer as {SECRET} would",
            conversation=thread.id,
        )
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": SECRET}], store=True
        )
        assert SECRET in answer.output_text  # the fake upstream echoes what it was sent
        found = httpx.get(f"{live.base_url}/threadline/search", params={"q": SECRET.lower()})
        assert len(found.json()["data"]) == 3  # the seed, the question and the echo

    assert SECRET.lower().encode() not in at_rest(database)
    exported = threadline(database, {"THREADLINE_ENCRYPTION_KEYS": k1}, "export")
    assert exported.count(SECRET) >= 4

    # Rotation: the new key first while the old still opens; re-seal with the server up.
    rotated = f"{k2},{k1}"
    with serving(database, fake, rotated, tmp_path / "log") as live:
        resealed = threadline(database, {"THREADLINE_ENCRYPTION_KEYS": rotated}, "db", "reencrypt")
        assert "sealed under key 'k2'" in resealed
        client = openai.OpenAI(base_url=live.base_url, api_key="any", max_retries=0)
        client.responses.create(model=MODEL, input="And then?", previous_response_id=answer.id)
        assert f"Tell me of {SECRET}" in str(fake.last_request())  # the chain, opened again

    with serving(database, fake, k2, tmp_path / "log") as live:
        client = openai.OpenAI(base_url=live.base_url, api_key="any", max_retries=0)
        items = client.conversations.items.list(thread.id)
        assert any(SECRET in str(item.model_dump()) for item in items.data)
        assert client.responses.retrieve(answer.id).instructions == f"Answer as {SECRET} would"
        found = httpx.get(f"{live.base_url}/threadline/search", params={"q": SECRET})
        assert len(found.json()["data"]) == 3
    assert SECRET.lower().encode() not in at_rest(database)
