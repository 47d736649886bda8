"""The server's log holds no content and no secrets, at the most verbose level: not the prompt,
not an upstream error that quotes it, not query strings, not API keys."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.api.test_tenancy import create_key
from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer

MARKER = "zq7-marker-4f1c"


@pytest.fixture
def verbose_server(fake: FakeUpstream, tmp_path: Path) -> LiveServer:
    return LiveServer(
        str(tmp_path / "t.db"), fake.base_url, log_path=tmp_path / "server.log", log_level="debug"
    )


def test_the_log_holds_no_prompt_no_upstream_message_no_query_and_no_key(
    verbose_server: LiveServer,
) -> None:
    server = verbose_server.start()
    key = create_key(server, "logged")
    server.restart()
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server.url, timeout=30, headers=auth) as http:
        ok = http.post("/v1/responses", json={"model": MODEL, "input": f"hello {MARKER}"})
        assert ok.status_code == 200
        for stream in (False, True):
            body = {"model": MODEL, "input": f"fail 400 {MARKER}", "stream": stream}
            failed = http.post("/v1/responses", json=body)
            assert MARKER in failed.text  # the client is told what the upstream said
        listed = http.get("/v1/conversations", params={f"metadata[{MARKER}]": MARKER})
        assert listed.status_code == 200
        http.get("/v1/models", params={"api_key": MARKER})  # a key where none belongs
        wrong = http.get("/v1/models", headers={"Authorization": f"Bearer tl-{MARKER}"})
        assert wrong.status_code == 401
    server.stop()

    assert server.log_path is not None
    log = server.log_path.read_text(errors="replace")
    assert '"GET /v1/conversations HTTP/1.1" 200' in log  # the access log is on
    assert "failed upstream" in log  # so are the engine's warnings
    assert MARKER not in log
    assert key not in log
    assert key.removeprefix("tl-")[:16] not in log
