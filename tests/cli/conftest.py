"""Drive `threadline` as a user would: in this process (Typer's runner) for most commands, as
a real subprocess for the interactive chat, against a temp database and the fake upstream."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.fake_upstream import FakeUpstream
from threadline.cli.main import app

MODEL = "fake-model"


@dataclass
class Cli:
    """Runs `threadline …` on one database, with the fake upstream as the `openai` provider."""

    db: Path
    env: dict[str, str | None]

    def __call__(self, *args: str, input: str | None = None, code: int = 0) -> CliResult:
        result = CliRunner().invoke(app, list(args), input=input, env=self.env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        outcome = CliResult(result.exit_code, result.stdout, result.stderr)
        assert result.exit_code == code, f"exit {result.exit_code}, expected {code}: {outcome}"
        return outcome

    def local(self, *args: str, code: int = 0, input: str | None = None) -> CliResult:
        """A command on the test's database (`--db` added)."""
        return self(*args, "--db", str(self.db), code=code, input=input)

    def process_env(self) -> dict[str, str]:
        merged = {**os.environ, **self.env}
        return {k: v for k, v in merged.items() if v is not None}

    def process(
        self, args: Sequence[str], *, input: str = "", timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """`python -m threadline ARGS` as a subprocess, stdin piped."""
        return subprocess.run(
            [sys.executable, "-m", "threadline", *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.process_env(),
            timeout=timeout,
            check=False,
        )


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(fake: FakeUpstream, tmp_path: Path) -> Iterator[Cli]:
    env: dict[str, str | None] = {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "upstream-secret",
        "THREADLINE_UPSTREAM_MAX_RETRIES": "0",
        "COLUMNS": "200",
    }
    for name in os.environ:
        if name.startswith("THREADLINE_") and name not in env:
            env[name] = None  # the test runner's own settings must not leak in
    yield Cli(tmp_path / "threadline.db", env)
