"""`threadline db migrate|path`"""

from __future__ import annotations

import typer

from threadline.cli.common import ConfigOption, DbOption, run_with_store, settings_from
from threadline.storage.base import Store

app = typer.Typer(help="The database: migrations and where it lives.")


@app.command()
def migrate(db: DbOption = None, config: ConfigOption = None) -> None:
    """Apply pending migrations (the server also does this at start-up)."""

    async def action(store: Store) -> None:
        return None  # run_with_store has migrated

    settings = settings_from(config, db)
    run_with_store(settings, action)
    typer.echo(f"database is up to date: {settings.database_url}")


@app.command()
def path(db: DbOption = None, config: ConfigOption = None) -> None:
    """Print the database URL in effect."""
    typer.echo(settings_from(config, db).database_url)
