"""`threadline erase`: delete what one end user produced in a tenant, with a dry run first."""

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
from threadline.storage.base import Store


def erase(
    tenant: Annotated[str, typer.Option(help="The tenant whose end user is erased.")],
    user: eu.User = None,
    safety_identifier: eu.SafetyIdentifier = None,
    metadata: eu.Metadata = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
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
    if not dry_run and not yes:
        err_console.print(
            "[red]error:[/red] this deletes for good; run with --dry-run to count first, then "
            "with --yes to erase"
        )
        raise typer.Exit(2)

    async def action(store: Store) -> ErasureReceipt:
        return await Erasure(store).erase_recorded(tenant, who, operator(), dry_run=dry_run)

    receipt = run_with_store(settings_from(config, db), action)
    typer.echo(json.dumps(receipt.to_json(), indent=2))
