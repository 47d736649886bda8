"""`threadline search`: a tenant's stored items by their words, from the database."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from threadline.cli.common import ConfigOption, DbOption, console, run_with_store, settings_from
from threadline.engine.search import ItemFinder
from threadline.errors import InvalidRequest
from threadline.storage.base import Store


def search(
    query: Annotated[str, typer.Argument(help="The words; items with all of them are found.")],
    tenant: Annotated[str, typer.Option(help="The tenant searched.")] = "default",
    limit: Annotated[int, typer.Option(min=1, max=100, help="At most this many hits.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Find stored messages, tool calls and their outputs by their words, most relevant
    first, with the conversation and response each belongs to."""

    async def action(store: Store) -> dict[str, Any]:
        return await ItemFinder(store).search(tenant, query, limit=limit)

    try:
        found = run_with_store(settings_from(config, db), action)
    except InvalidRequest as exc:
        raise typer.BadParameter(exc.message, param_hint="QUERY") from exc
    if as_json:
        typer.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    table = Table("conversation", "response", "matched", "snippet")
    for hit in found["data"]:
        matched = hit["matched"]
        if matched == "content":
            matched = f"{hit['item_type']} {hit['role'] or ''}".strip()
        table.add_row(
            hit["conversation_id"] or "", hit["response_id"] or "", matched, hit["snippet"]
        )
    console.print(table)
