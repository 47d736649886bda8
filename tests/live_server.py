"""A real `threadline serve` process on a free loopback port, for tests over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(
        self,
        database: str,
        upstream_url: str,
        *,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        upstream_key: str = "upstream-secret",
        log_level: str = "warning",
        serve_args: tuple[str, ...] = (),
        before_exec: Callable[[], None] | None = None,
    ) -> None:
        self.log_level = log_level
        self.serve_args = serve_args
        self._before_exec = before_exec
        """Run in the child before the server starts (Popen's preexec_fn)."""
        self.database = database
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
        self._env = {
            **inherited,
            "OPENAI_BASE_URL": upstream_url,
            "OPENAI_API_KEY": upstream_key,
            "THREADLINE_SHUTDOWN_GRACE_SECONDS": "5",
            "THREADLINE_UPSTREAM_MAX_RETRIES": "0",
            **_data_dir_beside(database),
            **(env or {}),
        }
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None, "the server is not running"
        return self._process.pid

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> LiveServer:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "threadline",
                "serve",
                "--port",
                str(self.port),
                "--db",
                self.database,
                "--log-level",
                self.log_level,
                *self.serve_args,
            ],
            env=self._env,
            stdout=log,
            stderr=log,
            preexec_fn=self._before_exec,  # noqa: PLW1509 - only sets a limit of the child
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"threadline serve exited with {self._process.returncode}; log: {self.log_path}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        # Stopped, not left running behind a failed test.
        self.stop(signal.SIGKILL)
        raise RuntimeError("threadline serve did not become healthy in 30 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self._process is None:
            return
        self._process.send_signal(sig)
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def create_api_key(database: str, name: str, *options: str) -> str:
    """A new API key in `database`, made by `threadline keys create` (its secret)."""
    result = subprocess.run(
        [sys.executable, "-m", "threadline", "keys", "create", name, *options, "--db", database],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def _data_dir_beside(database: str) -> dict[str, str]:
    """The server's files and keys (webhook.key, compaction.key) beside its SQLite file, not in
    the user's data directory shared by every test and run. Servers on a database URL (replicas
    of one PostgreSQL) keep the default, which they share, as replicas share their keys."""
    if "://" in database:
        return {}
    return {"THREADLINE_DATA_DIR": str(Path(database).parent / "data")}


@contextmanager
def serving_providers(
    upstream_url: str,
    directory: Path,
    providers: dict[str, Any],
    default: str,
    *,
    env: dict[str, str] | None = None,
    log_level: str = "warning",
) -> Iterator[LiveServer]:
    """A server on a SQLite file in `directory` whose providers are `providers` (as
    THREADLINE_PROVIDERS has them), `default` the one a bare model name goes to."""
    configured = {
        "THREADLINE_PROVIDERS": json.dumps(providers),
        "THREADLINE_DEFAULT_PROVIDER": default,
        **(env or {}),
    }
    with LiveServer(
        str(directory / "threadline.db"),
        upstream_url,
        env=configured,
        log_path=directory / "log",
        log_level=log_level,
    ) as live:
        yield live
