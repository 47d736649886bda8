"""The `threadline` command."""

from __future__ import annotations

import typer

from threadline.cli import config_cmd, conversations, db, db_admin, keys, responses
from threadline.cli.chat import chat
from threadline.cli.doctor import doctor
from threadline.cli.models import models
from threadline.cli.serve import serve

app = typer.Typer(
    name="threadline",
    help="Threadline: a self-hosted OpenAI Responses and Conversations API server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(serve)
app.command()(chat)
app.add_typer(conversations.app, name="conversations")
app.add_typer(responses.app, name="responses")
app.command()(models)
app.add_typer(keys.app, name="keys")
app.add_typer(db.app, name="db")
db_admin.register(db.app)
app.add_typer(config_cmd.app, name="config")
app.command()(doctor)

if __name__ == "__main__":
    app()
