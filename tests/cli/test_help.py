"""What a new user types first: `--version`, `--help`, and `doctor` pointed at their server."""

from __future__ import annotations

import json

from tests.cli.conftest import Cli
from tests.live_server import LiveServer, free_port
from threadline import __version__


def test_version_prints_the_version(cli: Cli) -> None:
    assert cli("--version").stdout == f"threadline {__version__}\n"


def test_help_shows_the_defaults_and_bracketed_text(cli: Cli) -> None:
    serve = cli("serve", "--help").stdout
    assert "[default: 127.0.0.1]" in serve and "[default: 8080]" in serve
    assert "[default: 1" in serve  # --workers, a default Typer prints itself
    imported = cli("conversations", "import", "--help").stdout
    assert "[{'role':" in imported


def test_doctor_looks_for_the_server_on_the_port_it_is_given(cli: Cli, server: LiveServer) -> None:
    found = {
        c["name"]: c
        for c in json.loads(
            cli.local("doctor", "--port", str(server.port), "--json", code=0).stdout
        )
    }
    assert found["server"] == {
        "name": "server",
        "level": "ok",
        "detail": f"running at {server.url}, database ready",
        "fix": None,
    }
    elsewhere = free_port()
    missing = {
        c["name"]: c
        for c in json.loads(
            cli.local("doctor", "--host", "127.0.0.1", "--port", str(elsewhere), "--json").stdout
        )
    }
    assert missing["server"]["detail"] == f"not running at http://127.0.0.1:{elsewhere}"
