"""Bring a SQL database to the newest schema, at start-up, with no alembic.ini.

The migrations ship inside the package, so an installed server finds them next to this module.
They run on the caller's engine inside one write transaction: on SQLite that transaction starts
with BEGIN IMMEDIATE, so two processes starting together migrate one after the other and the
second finds nothing to do.

To write a new migration against a migrated database, with `conn` a sync connection:
`command.revision(alembic_config(conn), "what changes", autogenerate=True)`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def upgrade(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
