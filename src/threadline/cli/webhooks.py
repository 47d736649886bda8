"""`threadline webhooks create|list|delete|deliveries|redeliver|key`: the operator's side of
webhooks (tenants use /v1/webhook_endpoints)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer
from cryptography.fernet import Fernet
from rich.table import Table

from threadline.cli.common import (
    ConfigOption,
    DbOption,
    console,
    err_console,
    run_with_store,
    settings_from,
)
from threadline.engine.api_keys import OPEN_TENANT
from threadline.engine.webhooks.sealing import SealedSecrets
from threadline.engine.webhooks.service import EVENT_TYPES, WebhookService
from threadline.errors import ThreadlineError
from threadline.settings import Settings
from threadline.storage.base import Store
from threadline.tools.webhooks import HttpWebhookSender
from threadline.wiring import outbound_policy

T = TypeVar("T")

app = typer.Typer(
    help="Webhooks: endpoints told when a background response ends, and their delivery log."
)

TenantOption = Annotated[
    str, typer.Option(help="Tenant whose background responses the endpoint hears.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _run(settings: Settings, action: Callable[[WebhookService], Awaitable[T]]) -> T:
    sealed = SealedSecrets(
        settings.webhook_key.get_secret_value() if settings.webhook_key else None,
        settings.data_dir,
    )

    async def with_service(store: Store) -> T:
        sender = HttpWebhookSender(outbound_policy(settings), timeout=settings.webhook_timeout)
        try:
            return await action(WebhookService(store, sealed, sender))
        finally:
            await sender.aclose()

    try:
        return run_with_store(settings, with_service)
    except ThreadlineError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc


@app.command()
def create(
    url: Annotated[str, typer.Argument(help="The http(s) URL that receives the events.")],
    event: Annotated[
        list[str] | None,
        typer.Option(
            help=f"An event to send (repeatable) [default: all: {', '.join(EVENT_TYPES)}]."
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="A name for the endpoint.")] = "webhook",
    tenant: TenantOption = OPEN_TENANT,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Register an endpoint and print its signing secret (shown once)."""

    async def action(service: WebhookService) -> dict[str, Any]:
        events = list(event or EVENT_TYPES)
        return await service.create(tenant, name=name, url=url, event_types=events)

    created = _run(settings_from(config, db), action)
    err_console.print(f"endpoint {created['id']}; its signing secret (shown once):")
    typer.echo(created["signing_secret"])


@app.command("list")
def list_endpoints(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's.")] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List endpoints (never their secrets)."""

    async def action(store: Store) -> list[dict[str, Any]]:
        found = await store.list_webhook_endpoints(tenant)
        return [
            {
                "id": e.id,
                "tenant": e.tenant,
                "name": e.name,
                "url": e.url,
                "event_types": e.event_types,
                "signing_secret_hint": e.secret_hint,
            }
            for e in found
        ]

    endpoints = run_with_store(settings_from(config, db), action)
    if as_json:
        typer.echo(json.dumps(endpoints, indent=2))
        return
    table = Table("id", "tenant", "name", "url", "events")
    for e in endpoints:
        table.add_row(e["id"], e["tenant"], e["name"], e["url"], ", ".join(e["event_types"]))
    console.print(table)


@app.command()
def delete(
    endpoint_id: Annotated[str, typer.Argument(help="The endpoint's id (we_…).")],
    tenant: TenantOption = OPEN_TENANT,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Delete an endpoint and its deliveries."""

    async def action(service: WebhookService) -> None:
        await service.delete(tenant, endpoint_id)

    _run(settings_from(config, db), action)
    typer.echo(f"deleted {endpoint_id}")


@app.command()
def deliveries(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many, newest first.")] = 50,
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The delivery log, newest first: each event, its endpoint, attempts and how the last
    went."""

    async def action(service: WebhookService) -> list[dict[str, Any]]:
        return [asdict(d) for d in await service.deliveries(tenant, limit=limit)]

    log = _run(settings_from(config, db), action)
    if as_json:
        typer.echo(json.dumps(log, indent=2))
        return
    table = Table("id", "event", "endpoint", "status", "attempts", "last", "created")
    for d in log:
        last = d["last_error"] or (str(d["last_status_code"]) if d["last_status_code"] else "")
        table.add_row(
            d["id"],
            f"{d['event_type']} {json.loads(d['payload'])['data']['id']}",
            d["endpoint_id"],
            d["status"],
            str(d["attempts"]),
            last,
            datetime.fromtimestamp(d["created_at"], UTC).strftime("%Y-%m-%d %H:%M:%S"),
        )
    console.print(table)


@app.command()
def redeliver(
    delivery_id: Annotated[str, typer.Argument(help="The delivery's id (whd_…).")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Send a delivery again now, whatever became of it (the running servers send it)."""

    async def action(service: WebhookService) -> None:
        await service.redeliver(None, delivery_id)

    _run(settings_from(config, db), action)
    typer.echo(f"{delivery_id} is due again")


@app.command()
def key() -> None:
    """Print a new key for THREADLINE_WEBHOOK_KEY (give every replica the same one)."""
    typer.echo(Fernet.generate_key().decode())
