"""`threadline audit`: the audit log, newest first, for every tenant or one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from threadline.cli.common import ConfigOption, DbOption, console, run_with_store, settings_from
from threadline.cli.times import moment
from threadline.storage.audit import AuditPage, AuditQuery
from threadline.storage.base import Store


def audit(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's events.")] = None,
    since: Annotated[
        str | None, typer.Option(help="From when: an age (12h, 30d), an ISO date, unix seconds.")
    ] = None,
    event_type: Annotated[
        list[str] | None,
        typer.Option("--type", help="Only these types, e.g. conversation.deleted (repeatable)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Who deleted, exported, imported or erased what, and API key changes, newest first.

    Actors are API keys by id, `open` (a request to a server without keys) and
    `operator:<user>` (this command line)."""
    query = AuditQuery(
        tenant=tenant,
        since=None if since is None else moment(since),
        actions=tuple(event_type or ()),
        limit=limit,
    )

    async def action(store: Store) -> AuditPage:
        return await store.list_audit(query)

    page = run_with_store(settings_from(config, db), action)
    if as_json:
        for e in page.events:
            line = {
                "id": e.id,
                "at": e.at,
                "tenant": e.tenant,
                "actor": e.actor,
                "type": e.action,
                "object_id": e.object_id,
                "details": e.details,
            }
            typer.echo(json.dumps(line))
        return
    table = Table("when (UTC)", "tenant", "actor", "type", "object", "details")
    for e in page.events:
        when = datetime.fromtimestamp(e.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        details = ", ".join(f"{k}={v}" for k, v in e.details.items() if v is not None)
        table.add_row(when, e.tenant or "", e.actor, e.action, e.object_id or "", details)
    console.print(table)
    if page.has_more:
        console.print(f"(more: raise --limit above {limit}, or narrow with --since / --type)")
