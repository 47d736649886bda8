"""`threadline usage`: the usage ledger added up, for every tenant or one, from the database."""

from __future__ import annotations

import csv
import json
import sys
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from threadline.cli.common import ConfigOption, DbOption, console, run_with_store, settings_from
from threadline.cli.times import moment
from threadline.storage.base import Store
from threadline.storage.usage import UsageDimension, UsageQuery, UsageTotals

_BY: dict[str, UsageDimension | float] = {
    "hour": 3_600.0,
    "day": 86_400.0,
    "tenant": "tenant",
    "key": "api_key_id",
    "user": "end_user",
    "model": "model",
    "kind": "kind",
}


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def usage(
    since: Annotated[str, typer.Option(help="How far back: 90m, 12h, 30d (from now).")] = "7d",
    by: Annotated[
        list[str] | None,
        typer.Option(
            help="Group by day, hour, tenant, key, user, model or kind (comma-separated or "
            "repeated). [default: day]"
        ),
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
    output: Annotated[Format, typer.Option("--format", help="table, csv or json.")] = Format.table,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Tokens, requests, tool calls, latency and cost from the usage ledger.

    Every model call that answered is a row: responses, chat completions, embeddings and
    compactions, with its API key, end user (`safety_identifier`, `user`, or the
    `usage_end_user_metadata_key`), model and cost by the price table (`model_prices`).
    """
    names = [n.strip() for part in by or ["day"] for n in part.split(",") if n.strip()]
    unknown = [n for n in names if n not in _BY]
    if unknown:
        raise typer.BadParameter(
            f"cannot group by {', '.join(unknown)}: use {', '.join(_BY)}", param_hint="--by"
        )
    widths = [w for n in names if isinstance(w := _BY[n], float)]
    groups = tuple(d for n in names if isinstance(d := _BY[n], str))
    now = time.time()
    start = moment(since)
    width = min(widths) if widths else None
    if width is not None:
        start = start // width * width
    query = UsageQuery(start, now + 1, tenant, width, groups)

    async def action(store: Store) -> list[UsageTotals]:
        return await store.summarize_usage(query)

    rows = [_row(t, names, width) for t in run_with_store(settings_from(config, db), action)]
    if output is Format.json:
        typer.echo(json.dumps(rows, indent=2))
    elif output is Format.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=_columns(names, width))
        writer.writeheader()
        writer.writerows(rows)
    else:
        _print_table(rows, names, width)


def _columns(names: list[str], width: float | None) -> list[str]:
    leading = ["period"] if width is not None else []
    return [
        *leading,
        *(n for n in names if isinstance(_BY[n], str)),
        "requests",
        "input_tokens",
        "cached_tokens",
        "output_tokens",
        "reasoning_tokens",
        "tool_calls",
        "mean_latency_ms",
        "cost_usd",
    ]


def _row(t: UsageTotals, names: list[str], width: float | None) -> dict[str, Any]:
    row: dict[str, Any] = {}
    if width is not None:
        moment = datetime.fromtimestamp(t.bucket_start, UTC)
        row["period"] = moment.strftime("%Y-%m-%d" if width >= 86_400 else "%Y-%m-%d %H:00Z")
    for name in names:
        dim = _BY[name]
        if isinstance(dim, str):
            row[name] = t.group.get(dim)
    row.update(
        requests=t.requests,
        input_tokens=t.input_tokens,
        cached_tokens=t.cached_tokens,
        output_tokens=t.output_tokens,
        reasoning_tokens=t.reasoning_tokens,
        tool_calls=t.tool_calls,
        mean_latency_ms=round(t.latency_ms / t.requests, 1) if t.requests else 0.0,
        cost_usd=round(t.cost, 6),
    )
    return row


def _print_table(rows: list[dict[str, Any]], names: list[str], width: float | None) -> None:
    columns = _columns(names, width)
    table = Table(*(c.replace("_", " ") for c in columns))
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    console.print(table)
    if not rows:
        console.print("No usage recorded in this period.")
