"""How commands print: JSON for `--json`, times, and failures with the exit code they mean.

Exit codes: 0 done, 1 failed (not found, unreachable, refused), 2 usage error (bad options or
an unreadable input file; Typer uses 2 for its own usage errors too).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from threadline.cli.backend import BackendError
from threadline.cli.common import err_console

FAILED = 1
USAGE = 2

PIPED_WIDTH = 160
out = Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)
"""Tables and transcripts; when piped, wide enough that a row stays on one line."""

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def when(timestamp: float | None) -> str:
    """A unix time as UTC, to the second; empty for None."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def fail(message: str, *, hint: str | None = None, code: int = FAILED) -> NoReturn:
    err_console.print(
        f"[red]error:[/red] {escape(message)}", markup=True, highlight=False, soft_wrap=True
    )
    if hint:
        err_console.print(f"[dim]hint:[/dim] {escape(hint)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def fail_from(exc: BackendError) -> NoReturn:
    fail(exc.message, hint=exc.hint)


def table(*columns: str, key_width: int = 0) -> Table:
    """A table that never cuts a value short (ids must stay copyable): long cells fold, and
    the first column keeps `key_width` characters."""
    result = Table()
    for index, name in enumerate(columns):
        if index == 0:
            result.add_column(name, overflow="fold", no_wrap=True, min_width=key_width)
        else:
            result.add_column(name, overflow="fold")
    return result
