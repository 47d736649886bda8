"""`threadline db status|backup|sweep`, added to the `db` group beside `migrate` and `path`."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Annotated

import sqlean  # type: ignore[import-untyped]  # the store's SQLite (engines.py): one per process
import typer
from rich.table import Table
from rich.text import Text

from threadline.cli.common import ConfigOption, DbOption, run_with_store, settings_from
from threadline.cli.db_inspect import DatabaseReport, inspect_database
from threadline.cli.output import USAGE, JsonOption, fail, out, print_json
from threadline.cli.progress import byte_progress, spinner
from threadline.engine.retention import RetentionSweeper, SweepReport
from threadline.storage.base import Store


def register(app: typer.Typer) -> None:
    app.command()(status)
    app.command()(backup)
    app.command()(sweep)


def status(db: DbOption = None, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show where the database is, its size, schema version and row counts (changes nothing)."""
    report = asyncio.run(inspect_database(settings_from(config, db).database_url))
    if as_json:
        print_json(report.as_json())
    else:
        _print_report(report)
    if report.error or not report.exists:
        raise typer.Exit(1)


def _print_report(report: DatabaseReport) -> None:
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_row("database", Text(report.url))
    table.add_row("kind", report.kind)
    if report.path is not None:
        table.add_row("file", Text(str(report.path)))
    if not report.exists:
        table.add_row("state", "[yellow]does not exist yet[/yellow] (`threadline db migrate`)")
    if report.size_bytes is not None:
        table.add_row("size", f"{report.size_bytes:,} bytes")
    if report.error:
        table.add_row("error", Text(report.error, style="red"))
    elif report.exists:
        if report.up_to_date:
            schema = f"{report.revision} (up to date)"
        elif report.revision is None:
            schema = "[yellow]not migrated[/yellow] (`threadline db migrate`)"
        else:
            schema = f"[yellow]{report.revision}, newest is {report.head}[/yellow] (`db migrate`)"
        table.add_row("schema", schema)
        for name, count in report.counts.items():
            table.add_row(f"{name}", f"{count:,} rows")
    out.print(table)


def backup(
    destination: Annotated[Path, typer.Argument(help="The backup file to write (SQLite).")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace DESTINATION if it exists.")
    ] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Copy the SQLite database to a file, consistently, while the server keeps running.

    The copy is a compacted snapshot (`VACUUM INTO`): readers and writers go on meanwhile.
    PostgreSQL databases are backed up with pg_dump instead.
    """
    report = asyncio.run(inspect_database(settings_from(config, db).database_url))
    if report.kind != "sqlite" or report.path is None:
        fail(
            f"backup copies SQLite files; this database is {report.kind}",
            hint="for PostgreSQL use pg_dump",
        )
    if not report.exists:
        fail(f"there is no database at {report.path}")
    target = destination.expanduser().resolve()
    if target == report.path:
        fail("the backup must go to another file than the database", code=USAGE)
    if target.exists():
        if not force:
            fail(f"{target} exists", hint="pass --force to replace it", code=USAGE)
        target.unlink()
    _vacuum_into(report.path, target, expected=report.size_bytes or 0)
    check = sqlean.connect(target)
    try:
        verdict = check.execute("PRAGMA quick_check").fetchone()[0]
    finally:
        check.close()
    if verdict != "ok":
        fail(f"the backup at {target} failed its integrity check: {verdict}")
    typer.echo(f"backed up {report.path} to {target} ({target.stat().st_size:,} bytes)")


def _vacuum_into(source: Path, target: Path, expected: int) -> None:
    """Run VACUUM INTO in a thread and show the copy's growth against the source's size."""
    failure: list[BaseException] = []

    def copy() -> None:
        connection = sqlean.connect(source, timeout=30)
        try:
            connection.execute("VACUUM INTO ?", (str(target),))
        except BaseException as exc:  # handed to the main thread, which reports it
            failure.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=copy, daemon=True)
    with byte_progress() as progress:
        task = progress.add_task("backing up", total=max(expected, 1))
        worker.start()
        while worker.is_alive():
            worker.join(0.1)
            size = target.stat().st_size if target.exists() else 0
            progress.update(task, completed=min(size, expected))
        progress.update(task, completed=expected)
    if failure:
        fail(f"the backup failed: {failure[0]}")


def sweep(
    response_retention: Annotated[
        float | None,
        typer.Option(help="Delete responses older than this many seconds [default: setting]."),
    ] = None,
    conversation_idle_ttl: Annotated[
        float | None,
        typer.Option(help="Expire conversations idle this many seconds [default: setting]."),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the retention sweep once, now (the server runs it every sweep_interval)."""
    settings = settings_from(
        config,
        db,
        response_retention=response_retention,
        conversation_idle_ttl=conversation_idle_ttl,
    )

    async def action(store: Store) -> SweepReport:
        sweeper = RetentionSweeper(
            store,
            response_retention=settings.response_retention,
            idle_ttl=settings.conversation_idle_ttl,
            tenant_retention=settings.tenant_response_retention,
            tombstone_retention=settings.export_tombstone_retention,
        )
        if not sweeper.retention_enabled:
            fail(
                "retention is off: nothing would be deleted or expired",
                hint="pass --response-retention / --conversation-idle-ttl, or set "
                "THREADLINE_RESPONSE_RETENTION / THREADLINE_CONVERSATION_IDLE_TTL",
                code=USAGE,
            )
        with spinner() as progress:
            progress.add_task("sweeping", total=None)
            return await sweeper.sweep_once()

    started = time.monotonic()
    result = run_with_store(settings, action)
    if as_json:
        print_json(
            {
                "expired_conversations": result.expired_conversations,
                "deleted_responses": result.deleted_responses,
                "abandoned_turns": result.abandoned_turns,
                "deleted_chat_completions": result.deleted_completions,
            }
        )
        return
    typer.echo(
        f"{result.deleted_responses} responses and {result.deleted_completions} chat "
        f"completions deleted, {result.expired_conversations} conversations expired, "
        f"{result.abandoned_turns} abandoned turns ended "
        f"({time.monotonic() - started:.1f} s)"
    )
