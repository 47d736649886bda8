"""`threadline serve` before it listens: what stops it says so in one line, and what it will
use is printed when it starts. Each runs the real command in a subprocess."""

from __future__ import annotations

import resource
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Cli
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer, free_port
from threadline import open_files

LOW_SOFT_LIMIT = 256


def _refused(cli: Cli, *args: str) -> str:
    """Run `threadline serve ARGS`, which must stop at once: its one-line complaint."""
    done = cli.process(["serve", "--port", str(free_port()), *args], timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_serve_says_the_port_is_in_use_and_how_to_pick_another(cli: Cli, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = cli.process(["serve", "--port", str(port), "--db", str(cli.db)], timeout=60)
    assert done.returncode == 2
    assert (
        done.stderr.strip() == f"error: port {port} is in use (another threadline?); pass --port N"
    )


def test_serve_refuses_a_database_directory_it_cannot_write(cli: Cli) -> None:
    line = _refused(cli, "--db", "/sys/threadline.db")
    assert line == (
        "error: cannot open the database /sys/threadline.db: the directory /sys is not "
        "writable (permission denied); choose a writable place with --db PATH or "
        "THREADLINE_DATABASE_URL"
    )


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[Path]:
    """A directory on a read-only filesystem (needs root, as in the CI container)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(mount)], capture_output=True, check=False
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a read-only filesystem here: {made.stderr!r}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_serve_and_doctor_say_the_filesystem_is_read_only(cli: Cli, read_only_mount: Path) -> None:
    db = read_only_mount / "threadline.db"
    line = _refused(cli, "--db", str(db))
    assert f"the filesystem holding {read_only_mount} is read-only" in line
    doctor = cli("doctor", "--db", str(db), code=1).stdout
    assert f"✗ database: {db} cannot be created: the filesystem holding" in doctor
    assert "fix: choose a writable place with --db PATH" in doctor


def test_doctor_says_the_database_directory_is_not_writable(cli: Cli) -> None:
    doctor = cli("doctor", "--db", "/sys/threadline.db", code=1).stdout
    assert "✗ database: /sys/threadline.db cannot be created: the directory /sys is not" in doctor
    assert "fix: choose a writable place" in doctor


def test_serve_names_a_misspelt_setting_and_the_file(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "threadline.toml"
    config.write_text('databse_url = "sqlite:///x.db"\n')
    assert _refused(cli, "--config", str(config)) == (
        f"error: unknown setting 'databse_url' in {config} (did you mean 'database_url'?)"
    )


def test_serve_names_a_config_file_that_does_not_parse(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "threadline.yaml"
    config.write_text("port: [8080\n")
    assert _refused(cli, "--config", str(config)).startswith(f"error: {config} is not valid YAML:")


def test_serve_refuses_a_default_provider_that_is_not_declared(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "threadline.toml"
    config.write_text(
        'default_provider = "olama"\n[providers.ollama]\nbase_url = "http://127.0.0.1:1/v1"\n'
    )
    line = _refused(cli, "--config", str(config))
    assert f"default_provider 'olama' (from {config}) is not a declared provider" in line
    assert "(declared: 'ollama')" in line


def test_serve_prints_the_database_providers_auth_and_problems_it_starts_with(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    config = tmp_path / "threadline.toml"
    config.write_text(
        'default_provider = "fake"\n'
        f'[providers.fake]\nbase_url = "{fake.base_url}"\napi_key = "file-secret"\n'
        '[providers.keyless]\nbase_url = "http://127.0.0.1:1/v1"\n'
        'api_key_env = "THREADLINE_TEST_UNSET_KEY"\n'
    )
    log = tmp_path / "server.log"
    db = tmp_path / "t.db"
    env = {"THREADLINE_CONFIG": str(config), "OPENAI_API_KEY": "env-secret"}
    with LiveServer(str(db), fake.base_url, env=env, log_path=log):
        banner = log.read_text()
    assert f"  database   {db}\n" in banner
    assert f"  provider   fake: {fake.base_url} (default)\n" in banner
    assert "  provider   keyless: http://127.0.0.1:1/v1\n" in banner
    assert "  provider   openai" not in banner  # the file declares providers: they win
    assert "  auth       open: no API keys" in banner
    assert "  problem    provider keyless: api_key_env names THREADLINE_TEST_UNSET_KEY" in banner
    assert "secret" not in banner


def test_local_commands_say_the_database_directory_is_not_writable(cli: Cli) -> None:
    expected = "error: cannot open the database /sys/threadline.db: the directory /sys is not"
    chat = cli("chat", "--db", "/sys/threadline.db", input="hello\n", code=1)
    assert chat.stderr.startswith(expected)
    keys = cli("keys", "list", "--db", "/sys/threadline.db", code=2)
    assert keys.stderr.startswith(expected)


def _open_files_limits(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-files limit in /proc")


def test_serve_raises_its_soft_open_file_limit_to_the_hard_limit(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= LOW_SOFT_LIMIT:
        pytest.skip(f"the hard open-file limit here ({hard}) leaves nothing to raise")

    def start_low() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (LOW_SOFT_LIMIT, hard))

    with LiveServer(str(tmp_path / "t.db"), fake.base_url, before_exec=start_low) as server:
        soft_then, hard_then = _open_files_limits(server.pid)
    assert hard_then == hard
    assert soft_then == (hard if hard != resource.RLIM_INFINITY else open_files.CEILING)
