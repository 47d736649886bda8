"""`threadline keys create|list|revoke`"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from threadline.cli.common import (
    ConfigOption,
    DbOption,
    console,
    err_console,
    run_with_store,
    settings_from,
)
from threadline.engine.api_keys import create_key
from threadline.errors import Conflict
from threadline.storage.base import ApiKeyRecord, Store

app = typer.Typer(help="Manage API keys. With at least one key, every request needs one.")


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="A name for the key (unique).")],
    tenant: Annotated[
        str | None, typer.Option(help="Tenant that owns what the key creates [default: NAME].")
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Create a key and print its secret (shown once; only a hash is stored)."""
    settings = settings_from(config, db)

    async def action(store: Store) -> str:
        return (await create_key(store, name, tenant)).secret

    try:
        secret = run_with_store(settings, action)
    except Conflict as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    typer.echo(secret)


@app.command("list")
def list_keys(
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List keys (never their secrets)."""

    async def action(store: Store) -> list[ApiKeyRecord]:
        return await store.list_api_keys()

    keys = run_with_store(settings_from(config, db), action)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": k.id,
                        "name": k.name,
                        "tenant": k.tenant,
                        "created_at": int(k.created_at),
                        "revoked_at": int(k.revoked_at) if k.revoked_at else None,
                    }
                    for k in keys
                ],
                indent=2,
            )
        )
        return
    table = Table("name", "tenant", "id", "created", "revoked")
    for k in keys:
        table.add_row(
            k.name, k.tenant, k.id, _when(k.created_at), _when(k.revoked_at) if k.revoked_at else ""
        )
    console.print(table)


@app.command()
def revoke(
    key: Annotated[str, typer.Argument(help="The key's name or id.")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Revoke a key; requests with it are refused (within a few seconds on a running server)."""

    async def action(store: Store) -> bool:
        return await store.revoke_api_key(key, time.time())

    if not run_with_store(settings_from(config, db), action):
        err_console.print(f"[red]error:[/red] no active key named '{key}'")
        raise typer.Exit(1)
    typer.echo(f"revoked {key}")


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
