"""The `threadline` command."""

from __future__ import annotations

from typing import Annotated

import typer

from threadline import __version__
from threadline.cli import (
    config_cmd,
    conversations,
    db,
    db_admin,
    db_encryption,
    holds,
    keys,
    responses,
    webhooks,
)
from threadline.cli.audit import audit
from threadline.cli.chat import chat
from threadline.cli.doctor import doctor
from threadline.cli.erase import erase, erase_tenant
from threadline.cli.export import export
from threadline.cli.models import models
from threadline.cli.search import search
from threadline.cli.serve import serve
from threadline.cli.usage import usage

app = typer.Typer(
    name="threadline",
    help="Threadline: a self-hosted OpenAI Responses and Conversations API server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Help text is plain text: Rich markup would swallow every `[default: …]` and `[…]` in it.
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"threadline {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Threadline: a self-hosted OpenAI Responses and Conversations API server."""


app.command()(serve)
app.command()(chat)
app.add_typer(conversations.app, name="conversations")
app.add_typer(responses.app, name="responses")
app.command()(models)
app.add_typer(keys.app, name="keys")
app.add_typer(holds.app, name="holds")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(db.app, name="db")
db_admin.register(db.app)
db_encryption.register(db.app)
app.command()(export)
app.add_typer(config_cmd.app, name="config")
app.command()(usage)
app.command()(erase)
app.command("erase-tenant")(erase_tenant)
app.command()(audit)
app.command()(search)
app.command()(doctor)

if __name__ == "__main__":
    app()
