"""`threadline erase` and `threadline erase-tenant`: delete what one end user produced in a
tenant, or a whole tenant, with a dry run first."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from threadline.cli import end_user_options as eu
from threadline.cli.common import (
    ConfigOption,
    DbOption,
    err_console,
    operator,
    run_with_store,
    settings_from,
)
from threadline.engine.erasure import Erasure, ErasureReceipt
from threadline.engine.tenant_erasure import TenantErasure, TenantErasureReceipt
from threadline.storage.base import Store
from threadline.storage.local_files import LocalFileStore

DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
]
Yes = Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")]


def _confirmed(dry_run: bool, yes: bool) -> None:
    if not dry_run and not yes:
        err_console.print(
            "[red]error:[/red] this deletes for good; run with --dry-run to count first, then "
            "with --yes to erase"
        )
        raise typer.Exit(2)


def erase(
    tenant: Annotated[str, typer.Option(help="The tenant whose end user is erased.")],
    user: eu.User = None,
    safety_identifier: eu.SafetyIdentifier = None,
    metadata: eu.Metadata = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Erase what one end user produced: responses whose request named them, the whole
    conversations those ran in (and, with --metadata, the conversations and stored chat
    completions whose metadata names them); their name leaves the usage ledger, whose rows stay
    for the totals. Prints a receipt (JSON). Files carry no end user and are not touched.

    Run it again after an interruption: it finishes what is left.
    """
    eu.named_once(user, safety_identifier, metadata)
    who = eu.end_user(user, safety_identifier, metadata)
    _confirmed(dry_run, yes)

    async def action(store: Store) -> ErasureReceipt:
        return await Erasure(store).erase_recorded(tenant, who, operator(), dry_run=dry_run)

    receipt = run_with_store(settings_from(config, db), action)
    typer.echo(json.dumps(receipt.to_json(), indent=2))


def erase_tenant(
    tenant: Annotated[str, typer.Argument(help="The tenant to erase.")],
    dry_run: DryRun = False,
    yes: Yes = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Erase a whole tenant: its API keys are revoked, then its responses, conversations,
    stored chat completions, files, vector stores and webhook endpoints are deleted; its usage
    rows stay for the totals, without end users' names. Legal holds keep what they hold (a hold
    on the tenant: everything). Prints a receipt (JSON).

    Run it again after an interruption: it finishes what is left.
    """
    _confirmed(dry_run, yes)
    settings = settings_from(config, db)
    files = LocalFileStore(settings.data_dir)

    async def action(store: Store) -> TenantErasureReceipt:
        erasure = TenantErasure(store, files)
        return await erasure.erase_tenant(tenant, operator(), dry_run=dry_run)

    receipt = run_with_store(settings, action)
    typer.echo(json.dumps(receipt.to_json(), indent=2))
