"""`threadline db migrate|path|copy`"""

from __future__ import annotations

import asyncio
from typing import Annotated, NoReturn

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from sqlalchemy.exc import SQLAlchemyError

from threadline.cli.common import (
    ConfigOption,
    DbOption,
    err_console,
    run_with_store,
    settings_from,
)
from threadline.storage.base import Store
from threadline.storage.factory import redacted, sqlalchemy_url
from threadline.storage.sql import SqlStore
from threadline.storage.sql.copy import BATCH_SIZE, CopyRefused, copy_database

app = typer.Typer(help="The database: migrations, where it lives, copying it elsewhere.")


@app.command()
def migrate(db: DbOption = None, config: ConfigOption = None) -> None:
    """Apply pending migrations (the server also does this at start-up)."""

    async def action(store: Store) -> None:
        return None  # run_with_store has migrated

    settings = settings_from(config, db)
    run_with_store(settings, action)
    typer.echo(f"database is up to date: {redacted(settings.database_url)}")


@app.command()
def path(db: DbOption = None, config: ConfigOption = None) -> None:
    """Print the database URL in effect (password masked)."""
    typer.echo(redacted(settings_from(config, db).database_url))


@app.command()
def copy(
    source: Annotated[
        str, typer.Argument(help="Database to read: a SQLite path or URL, or postgresql://…")
    ],
    destination: Annotated[
        str, typer.Argument(help="Database to write, migrated first; must be empty.")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Replace whatever the destination holds.")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per batch.")] = BATCH_SIZE,
) -> None:
    """Copy every response, item, conversation and API key to another SQL database
    (SQLite <-> PostgreSQL), keeping ids and order. Stop servers writing to SOURCE first,
    or what they write after the copy starts stays behind."""
    urls = []
    for url in (source, destination):
        try:
            sa_url = sqlalchemy_url(url)
        except ValueError as exc:
            _fail(str(exc), code=2)
        if sa_url is None:
            _fail(f"{redacted(url)}: db copy works between SQLite and PostgreSQL databases", 2)
        urls.append(sa_url)

    async def run() -> dict[str, int]:
        reader, writer = SqlStore(urls[0], pool_size=1), SqlStore(urls[1], pool_size=1)
        try:
            with _ProgressBar() as progress:
                return await copy_database(
                    reader, writer, replace=force, batch_size=batch_size, progress=progress
                )
        finally:
            await reader.close()
            await writer.close()

    try:
        copied = asyncio.run(run())
    except CopyRefused as exc:
        _fail(str(exc), code=1)
    except (OSError, SQLAlchemyError) as exc:
        _fail(f"the copy failed, no rows were written: {_first_line(exc)}", code=1)
    summary = ", ".join(f"{count} {table}" for table, count in copied.items())
    typer.echo(f"copied {summary} from {redacted(source)} to {redacted(destination)}")


class _ProgressBar:
    """One Rich bar per table; `copy_database` reports into it."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err_console,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._progress.stop()

    def start(self, totals: dict[str, int]) -> None:
        for table, total in totals.items():
            self._tasks[table] = self._progress.add_task(table, total=total)

    def advance(self, table: str, rows: int) -> None:
        self._progress.advance(self._tasks[table], rows)


def _first_line(exc: BaseException) -> str:
    # The driver's own message, without SQLAlchemy's statement and parameters.
    origin = getattr(exc, "orig", None) or exc
    text = str(origin).strip()
    return text.splitlines()[0] if text else type(origin).__name__


def _fail(message: str, code: int) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)
