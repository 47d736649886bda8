"""`threadline keys create|list|limits|revoke|open`"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from threadline.cli import key_limits as kl
from threadline.cli.common import (
    ConfigOption,
    DbOption,
    console,
    err_console,
    operator,
    run_with_store,
    settings_from,
)
from threadline.engine.api_keys import (
    OPEN_TENANT,
    create_key,
    first_key_would_hide_open_data,
    open_server,
)
from threadline.engine.audit import AuditLog
from threadline.errors import Conflict
from threadline.storage.base import ApiKeyRecord, Store
from threadline.storage.local_files import LocalFileStore
from threadline.storage.usage import NO_LIMITS

app = typer.Typer(
    help="Manage API keys. Once a key exists, every request needs a live one, even after the "
    "last is revoked, until `threadline keys open`."
)


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="A name for the key (unique).")],
    tenant: Annotated[
        str | None, typer.Option(help="Tenant that owns what the key creates [default: NAME].")
    ] = None,
    default_store: Annotated[
        bool | None,
        typer.Option(
            "--default-store/--no-default-store",
            help="What an omitted `store` means for this key's responses [default: the "
            "tenant's default_store].",
        ),
    ] = None,
    expires_in: kl.ExpiresIn = None,
    models: kl.Models = None,
    rpm: kl.Rpm = None,
    tpm: kl.Tpm = None,
    daily_budget: kl.DailyBudget = None,
    monthly_budget: kl.MonthlyBudget = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Create a key and print its secret (shown once; only a hash is stored).

    Limits are optional: an expiry, the models it may use, requests and tokens per minute,
    and a spend budget per UTC day or month (by the `model_prices` table); they hold across
    workers and replicas. `keys limits` changes them later.

    The first key closes an open server. What was created without a key belongs to tenant
    'default', which only a key created with `--tenant default` can see: when such things exist
    this says so (and asks, at a terminal).
    """
    settings = settings_from(config, db)
    files = LocalFileStore(settings.data_dir)

    async def would_hide(store: Store) -> bool:
        return await first_key_would_hide_open_data(store, files, time.time())

    if tenant is None and run_with_store(settings, would_hide):
        tenant = _tenant_for_open_data(name)

    limits = kl.with_options(
        NO_LIMITS,
        time.time(),
        expires_in=expires_in,
        models=models,
        rpm=rpm,
        tpm=tpm,
        daily_budget=daily_budget,
        monthly_budget=monthly_budget,
    )

    async def action(store: Store) -> str:
        new = await create_key(store, name, tenant, default_store=default_store, limits=limits)
        record = new.record
        await AuditLog(store).record(
            record.tenant,
            operator(),
            "api_key.created",
            record.id,
            name=name,
            **limits.to_json(),
        )
        return new.secret

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
                        "default_store": k.default_store,
                        "limits": k.limits.to_json(),
                    }
                    for k in keys
                ],
                indent=2,
            )
        )
        return
    table = Table(
        "name", "tenant", "id", "created", "expires", "revoked", "default store", "limits"
    )
    for k in keys:
        revoked = _when(k.revoked_at) if k.revoked_at else ""
        expires = _when(k.limits.expires_at) if k.limits.expires_at else ""
        default = "" if k.default_store is None else str(k.default_store).lower()
        table.add_row(
            k.name,
            k.tenant,
            k.id,
            _when(k.created_at),
            expires,
            revoked,
            default,
            k.limits.described(),
        )
    console.print(table)


@app.command("limits")
def set_limits(
    key: Annotated[str, typer.Argument(help="The key's name or id.")],
    expires_in: kl.ExpiresIn = None,
    models: kl.Models = None,
    rpm: kl.Rpm = None,
    tpm: kl.Tpm = None,
    daily_budget: kl.DailyBudget = None,
    monthly_budget: kl.MonthlyBudget = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove every limit first (then set those given).")
    ] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Change a live key's limits (each option given; the others are kept) and print them
    as JSON. A running server applies them within a few seconds."""

    async def action(store: Store) -> dict[str, object] | None:
        found = [k for k in await store.list_api_keys() if key in (k.id, k.name)]
        live = [k for k in found if k.revoked_at is None]
        if not live:
            return None
        limits = kl.with_options(
            NO_LIMITS if clear else live[0].limits,
            time.time(),
            expires_in=expires_in,
            models=models,
            rpm=rpm,
            tpm=tpm,
            daily_budget=daily_budget,
            monthly_budget=monthly_budget,
        )
        await store.set_api_key_limits(live[0].id, limits)
        changed = limits.to_json()
        await AuditLog(store).record(
            live[0].tenant, operator(), "api_key.updated", live[0].id, **changed
        )
        return changed

    changed = run_with_store(settings_from(config, db), action)
    if changed is None:
        err_console.print(f"[red]error:[/red] no active key named '{key}'")
        raise typer.Exit(1)
    typer.echo(json.dumps(changed, indent=2))


@app.command()
def revoke(
    key: Annotated[str, typer.Argument(help="The key's name or id.")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Revoke a key; requests with it are refused (within a few seconds on a running server)."""

    async def action(store: Store) -> bool:
        found = [k for k in await store.list_api_keys() if key in (k.id, k.name)]
        if not await store.revoke_api_key(key, time.time()):
            return False
        for record in (k for k in found if k.revoked_at is None):
            await AuditLog(store).record(record.tenant, operator(), "api_key.revoked", record.id)
        return True

    if not run_with_store(settings_from(config, db), action):
        err_console.print(f"[red]error:[/red] no active key named '{key}'")
        raise typer.Exit(1)
    typer.echo(f"revoked {key}")


@app.command("open")
def open_(
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: anyone who can reach the server may use it.")
    ] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Open the server again: requests without a key are served, as tenant 'default'.

    Refused while a live key exists (revoke it first). Forgets the revoked keys. Running
    servers notice within seconds and log a warning, and every start logs one while open.
    """
    if not yes:
        err_console.print(
            "[red]error:[/red] this lets anyone who can reach the server use it, as tenant "
            f"'{OPEN_TENANT}'; run `threadline keys open --yes` to confirm"
        )
        raise typer.Exit(2)

    async def action(store: Store) -> int:
        forgotten = await open_server(store)
        await AuditLog(store).record(None, operator(), "server.opened", forgotten=forgotten)
        return forgotten

    try:
        forgotten = run_with_store(settings_from(config, db), action)
    except Conflict as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    err_console.print(
        f"[yellow]warning:[/yellow] the server is OPEN: requests without a key are served as "
        f"tenant '{OPEN_TENANT}' ({forgotten} revoked key(s) forgotten). "
        "`threadline keys create NAME` closes it again."
    )


def _tenant_for_open_data(name: str) -> str | None:
    err_console.print(
        "[yellow]notice:[/yellow] this is the first key, and the server holds responses, "
        f"conversations or files created without a key (tenant '{OPEN_TENANT}'). A key for "
        f"tenant '{name}' will not see them; `--tenant {OPEN_TENANT}` gives the key tenant "
        f"'{OPEN_TENANT}'."
    )
    if sys.stdin.isatty() and typer.confirm(
        f"Give this key tenant '{OPEN_TENANT}'?", default=False, err=True
    ):
        return OPEN_TENANT
    return None


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
