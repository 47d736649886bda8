"""Bring a SQL database to the newest schema, at start-up, with no alembic.ini.

The migrations ship inside the package, so an installed server finds them next to this module.
They run on the connection of one write transaction (the store's `write`), and two processes
starting together (replicas, workers, the CLI next to a server) migrate one after the other,
the second finding nothing to do: on SQLite the transaction starts with BEGIN IMMEDIATE; on
PostgreSQL, where DDL is transactional but two `CREATE TABLE alembic_version` could still race,
it first takes a transaction-scoped advisory lock, released by the commit.

To write a new migration against a migrated database, with `conn` a sync connection:
`command.revision(alembic_config(conn), "what changes", autogenerate=True)`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant every Threadline process agrees on: "threadln" in ASCII.
MIGRATION_LOCK_KEY = 0x7468726561646C6E


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection) -> None:
    """Migrate to the newest schema; `connection` is inside the write transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    command.upgrade(alembic_config(connection), "head")


def head_revision() -> str | None:
    """The newest migration this version of Threadline ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The schema version of the database (None for a database never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()
