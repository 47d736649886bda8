"""The options that say where a command acts (a server, or the local database as a tenant),
and opening the matching `Backend`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from threadline.cli.backend import Backend, BackendError
from threadline.cli.common import settings_from
from threadline.cli.output import fail_from

T = TypeVar("T")

BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        envvar="THREADLINE_URL",
        help="A running Threadline server (http://host:port). Without it, the command works "
        "in this process on the local database.",
        show_envvar=True,
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="THREADLINE_API_KEY",
        help="Threadline API key for --base-url (needed once the server has keys).",
        show_envvar=True,
    ),
]
TenantOption = Annotated[
    str,
    typer.Option("--tenant", help="Tenant to act as on the local database (not with --base-url)."),
]
LocalDbOption = Annotated[
    str | None,
    typer.Option("--db", help="Local database: a SQLite file path or a URL (not with --base-url)."),
]
LocalConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (TOML or YAML) for the local mode; default $THREADLINE_CONFIG.",
    ),
]


@dataclass(frozen=True, slots=True)
class Target:
    """Where to act: `base_url` set means a server, else the local database as `tenant`."""

    base_url: str | None = None
    api_key: str | None = None
    tenant: str = "default"
    db: str | None = None
    config: Path | None = None

    async def open(self) -> Backend:
        # Imported here: each backend pulls in a large library (the openai SDK, or the engine
        # and its database drivers), and only one of them is needed.
        if self.base_url:
            from threadline.cli.backend_http import HttpBackend  # noqa: PLC0415

            return HttpBackend(self.base_url, self.api_key)
        from threadline.cli.backend_local import LocalBackend  # noqa: PLC0415

        return await LocalBackend.open(settings_from(self.config, self.db), self.tenant)


def run_on(target: Target, action: Callable[[Backend], Awaitable[T]]) -> T:
    """Open the backend, run `action`, close it; a `BackendError` ends the command (exit 1)."""

    async def main() -> T:
        backend = await target.open()
        try:
            return await action(backend)
        finally:
            await backend.aclose()

    try:
        return asyncio.run(main())
    except BackendError as exc:
        fail_from(exc)
