"""`threadline export`: a tenant's stored data for a pipeline, from the local database, as NDJSON
or Parquet, resumable from the cursor it prints (engine/export.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from threadline.cli.common import ConfigOption, DbOption, err_console, run_with_store, settings_from
from threadline.cli.export_sinks import MissingParquet, NdjsonSink, ParquetSink, Sink
from threadline.cli.output import USAGE, fail
from threadline.cli.times import moment
from threadline.engine.export import PipelineExport
from threadline.errors import InvalidRequest
from threadline.storage.base import Store


def export(
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant whose data is exported.")] = (
        "default"
    ),
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (default: standard output, NDJSON)."),
    ] = None,
    fmt: Annotated[
        Literal["ndjson", "parquet"],
        typer.Option("--format", help="ndjson, or parquet (needs --output and pyarrow)."),
    ] = "ndjson",
    cursor: Annotated[
        str | None,
        typer.Option("--cursor", help="Export only what changed since the export that printed it."),
    ] = None,
    cursor_file: Annotated[
        Path | None,
        typer.Option(
            "--cursor-file",
            help="Start from the cursor in this file (when it exists) and write the new cursor "
            "there once the export is complete: run the same command again to get what changed.",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only what changed at or after this time: unix seconds, ISO 8601, or an age (7d).",
        ),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Export a tenant's responses (with usage and items), conversations, conversation items and
    stored chat completions, deletions as tombstones; prints the cursor to resume from."""
    settings = settings_from(config, db)
    if fmt == "parquet" and output is None:
        fail("--format parquet writes a file: pass --output FILE", code=USAGE)
    if cursor is None and cursor_file is not None and cursor_file.exists():
        cursor = cursor_file.read_text().strip() or None
    changed_since = None if since is None else moment(since)

    async def action(store: Store) -> tuple[str, int]:
        export = PipelineExport(store, tombstone_retention=settings.export_tombstone_retention)
        try:
            start = export.start(cursor)
        except InvalidRequest as exc:
            fail(str(exc), code=USAGE)
        sink = _sink(fmt, output)
        try:
            async for record in export.records(tenant, start, since=changed_since):
                if record["type"] == "cursor":
                    return record["cursor"], record["records"]
                sink.write(record)
        finally:
            sink.close()
        raise AssertionError("an export ends with its cursor")

    next_cursor, count = run_with_store(settings, action)
    if cursor_file is not None:
        cursor_file.write_text(next_cursor + "\n")
    err_console.print(f"{count} records; cursor: {next_cursor}", highlight=False, soft_wrap=True)


def _sink(fmt: str, output: Path | None) -> Sink:
    if fmt == "parquet":
        assert output is not None
        try:
            return ParquetSink(output)
        except MissingParquet:
            fail("Parquet needs pyarrow: pip install 'threadline[parquet]'", code=USAGE)
    if output is None:
        return NdjsonSink(sys.stdout.buffer)
    return NdjsonSink(output.open("wb"), owned=True)
