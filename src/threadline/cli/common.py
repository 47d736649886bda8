"""What every command shares: loading settings, running async code, printing errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from threadline.settings import ConfigError, Settings, load_settings
from threadline.storage.base import Store
from threadline.storage.factory import open_store

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


def run_with_store(settings: Settings, action: Callable[[Store], Awaitable[T]]) -> T:
    async def main() -> T:
        store = open_store(
            settings.database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            context_cache_bytes=settings.context_cache_mb * 1024 * 1024,
        )
        try:
            await store.migrate()
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(main())
