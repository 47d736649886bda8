"""The `threadline` command."""

from __future__ import annotations

import typer

from threadline.cli import db, keys
from threadline.cli.serve import serve

app = typer.Typer(
    name="threadline",
    help="Threadline: a self-hosted OpenAI Responses and Conversations API server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(serve)
app.add_typer(keys.app, name="keys")
app.add_typer(db.app, name="db")

if __name__ == "__main__":
    app()
