"""What every command shares: loading settings, running async code, printing errors."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from threadline.settings import Settings
from threadline.settings_loading import ConfigError, load_settings
from threadline.storage.base import Store
from threadline.storage.factory import (
    open_store,
    redacted,
    sqlite_path,
    sqlite_write_problem,
)

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (TOML or YAML); default $THREADLINE_CONFIG."),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database: a SQLite file path or a URL (default: the user data dir)."
    ),
]


def settings_from(config: Path | None, db: str | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, database_url=db, **overrides)
    except ConfigError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def operator() -> str:
    """The audit log's actor for what the command line does: the operator's login name."""
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in this container
        return "operator"


def run_with_store(settings: Settings, action: Callable[[Store], Awaitable[T]]) -> T:
    """Open and migrate the database, run `action`; a database that will not open ends the
    command with one line saying why (exit 2)."""

    async def main() -> T:
        try:
            store = open_store(
                settings.database_url,
                pool_size=settings.database_pool_size,
                max_overflow=settings.database_max_overflow,
                context_cache_bytes=settings.context_cache_mb * 1024 * 1024,
                codec=settings.content_codec(),
            )
            await store.migrate()
        except Exception as exc:  # whatever the driver raises, the operator must fix the setup
            err_console.print(
                f"[red]error:[/red] {escape(database_failure(settings.database_url, exc))}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2) from None
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(main())


def database_failure(database_url: str, exc: BaseException) -> str:
    """A database that would not open, in one line saying what to change."""
    where = redacted(database_url)
    file = sqlite_path(database_url)
    problem = sqlite_write_problem(file) if file is not None else None
    if problem is not None:
        return (
            f"cannot open the database {where}: {problem}; choose a writable place with "
            "--db PATH or THREADLINE_DATABASE_URL"
        )
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"cannot open the database {where}: {reason}; `threadline doctor` checks the setup"
