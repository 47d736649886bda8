"""`threadline holds place|release|list`: legal holds, which erasure and retention skip."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.table import Table

from threadline.cli import end_user_options as eu
from threadline.cli.common import (
    ConfigOption,
    DbOption,
    console,
    err_console,
    operator,
    run_with_store,
    settings_from,
)
from threadline.engine.audit import AuditLog
from threadline.storage.base import Store
from threadline.storage.holds import HoldKind, LegalHold

app = typer.Typer(
    help="Legal holds: a tenant, a conversation or an end user whose data erasure and "
    "retention must keep until the hold is released."
)

Tenant = Annotated[str, typer.Option(help="The tenant the hold is in.")]
Conversation = Annotated[str | None, typer.Option(help="Hold this conversation (its id).")]
WholeTenant = Annotated[bool, typer.Option("--whole-tenant", help="Hold everything of it.")]


@app.command()
def place(
    tenant: Tenant,
    reason: Annotated[str, typer.Option(help="Why (a case number): kept with the hold.")],
    conversation: Conversation = None,
    user: eu.User = None,
    safety_identifier: eu.SafetyIdentifier = None,
    metadata: eu.Metadata = None,
    whole_tenant: WholeTenant = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Place a hold (placing it again changes its reason)."""
    kind, target = _target(conversation, user, safety_identifier, metadata, whole_tenant)
    hold = LegalHold(tenant, kind, target, reason, time.time())

    async def action(store: Store) -> None:
        await store.place_hold(hold)
        await AuditLog(store).record(
            tenant, operator(), "legal_hold.placed", target or None, kind=kind, reason=reason
        )

    run_with_store(settings_from(config, db), action)
    typer.echo(f"held: {kind} {target}".rstrip())


@app.command()
def release(
    tenant: Tenant,
    conversation: Conversation = None,
    user: eu.User = None,
    safety_identifier: eu.SafetyIdentifier = None,
    metadata: eu.Metadata = None,
    whole_tenant: WholeTenant = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Release a hold: erasure and retention reach what it kept again."""
    kind, target = _target(conversation, user, safety_identifier, metadata, whole_tenant)

    async def action(store: Store) -> bool:
        released = await store.release_hold(tenant, kind, target)
        if released:
            await AuditLog(store).record(
                tenant, operator(), "legal_hold.released", target or None, kind=kind
            )
        return released

    if not run_with_store(settings_from(config, db), action):
        err_console.print(f"[red]error:[/red] no such hold in tenant '{tenant}'")
        raise typer.Exit(1)
    typer.echo(f"released: {kind} {target}".rstrip())


@app.command("list")
def list_holds(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's holds.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """List holds."""

    async def action(store: Store) -> list[LegalHold]:
        return await store.list_holds(tenant)

    holds = run_with_store(settings_from(config, db), action)
    if as_json:
        rows = [
            {"tenant": h.tenant, "kind": h.kind, "target": h.target, "reason": h.reason}
            for h in holds
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("tenant", "kind", "target", "reason")
    for h in holds:
        table.add_row(h.tenant, h.kind, h.target, h.reason)
    console.print(table)


def _target(
    conversation: str | None,
    user: str | None,
    safety_identifier: str | None,
    metadata: str | None,
    whole_tenant: bool,
) -> tuple[HoldKind, str]:
    eu.named_once(conversation, user, safety_identifier, metadata, whole_tenant or None)
    if whole_tenant:
        return "tenant", ""
    if conversation is not None:
        return "conversation", conversation
    return "end_user", eu.end_user(user, safety_identifier, metadata).target
