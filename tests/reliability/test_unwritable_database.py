"""A SQLite database whose files the server cannot write is refused at start, with a message
naming the file and what to do, instead of failing later (or dying of SIGBUS on the -shm
mapping, with no log line).

Root writes through any file mode: as root, the server runs with the capabilities that let it
(CAP_DAC_OVERRIDE and friends) dropped by `setpriv`, so the file mode applies to it as to any
other user."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_upstream import FakeUpstream
from tests.live_server import free_port


def _without_root_powers() -> list[str]:
    if os.getuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file modes cannot be enforced")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def _serve(database: Path, fake: FakeUpstream) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env["OPENAI_BASE_URL"] = fake.base_url
    command = [sys.executable, "-m", "threadline", "serve", "--db", str(database)]
    return subprocess.run(
        [*_without_root_powers(), *command, "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _created(tmp_path: Path) -> Path:
    database = tmp_path / "t.db"
    subprocess.run(
        [sys.executable, "-m", "threadline", "keys", "list", "--db", str(database)],
        check=True,
        capture_output=True,
    )
    return database


@pytest.mark.parametrize("suffix", ["-shm", "-writers"])
def test_a_read_only_file_beside_the_database_is_refused_at_start_naming_it(
    tmp_path: Path, fake: FakeUpstream, suffix: str
) -> None:
    database = _created(tmp_path)
    beside = tmp_path / f"t.db{suffix}"
    beside.write_bytes(b"")
    beside.chmod(0o444)
    served = _serve(database, fake)
    assert served.returncode != 0
    assert f"{beside} cannot be opened for writing" in served.stderr
    assert "chown/chmod" in served.stderr


def test_a_shm_that_is_not_a_file_is_refused_at_start_naming_it(
    tmp_path: Path, fake: FakeUpstream
) -> None:
    database = _created(tmp_path)
    (tmp_path / "t.db-shm").mkdir()
    served = _serve(database, fake)
    assert served.returncode != 0
    assert f"{tmp_path / 't.db-shm'} is not a regular file" in served.stderr


def test_a_read_only_database_directory_is_refused_at_start(
    tmp_path: Path, fake: FakeUpstream
) -> None:
    database = _created(tmp_path)
    tmp_path.chmod(0o555)
    try:
        served = _serve(database, fake)
    finally:
        tmp_path.chmod(0o755)
    assert served.returncode != 0
    assert f"{tmp_path} is not writable" in served.stderr
