"""`threadline responses show|delete`"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from threadline.cli.backend import Backend
from threadline.cli.output import JsonOption, out, print_json
from threadline.cli.target import (
    ApiKeyOption,
    BaseUrlOption,
    LocalConfigOption,
    LocalDbOption,
    Target,
    TenantOption,
    run_on,
)
from threadline.cli.transcript import print_transcript, response_header

app = typer.Typer(
    help="Stored responses: read one with its input and output, or delete it. Without "
    "--base-url they are read from the local database, as --tenant.",
    no_args_is_help=True,
)

ResponseId = Annotated[str, typer.Argument(help="The response id (resp_…).")]


@app.command()
def show(
    response_id: ResponseId,
    as_json: JsonOption = False,
    base_url: BaseUrlOption = None,
    api_key: ApiKeyOption = None,
    tenant: TenantOption = "default",
    db: LocalDbOption = None,
    config: LocalConfigOption = None,
) -> None:
    """Show a response: its provenance, the input it was sent and the output it produced."""

    async def action(backend: Backend) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        found = await backend.get_response(response_id)
        return found, await backend.response_input_items(response_id)

    response, input_items = run_on(Target(base_url, api_key, tenant, db, config), action)
    if as_json:
        print_json({"response": response, "input_items": input_items})
        return
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    for label, value in response_header(response):
        table.add_row(Text(label, style="dim"), Text(value))
    out.print(table)
    out.print("[bold]input[/bold]")
    print_transcript(out, input_items)
    out.print("[bold]output[/bold]")
    print_transcript(out, response.get("output") or [])


@app.command()
def delete(
    response_id: ResponseId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    base_url: BaseUrlOption = None,
    api_key: ApiKeyOption = None,
    tenant: TenantOption = "default",
    db: LocalDbOption = None,
    config: LocalConfigOption = None,
) -> None:
    """Delete a response and the items it owns (items that are part of a conversation stay)."""
    if not yes and sys.stdin.isatty():
        typer.confirm(f"Delete {response_id}?", abort=True)

    async def action(backend: Backend) -> dict[str, Any]:
        return await backend.delete_response(response_id)

    run_on(Target(base_url, api_key, tenant, db, config), action)
    typer.echo(f"deleted {response_id}")
