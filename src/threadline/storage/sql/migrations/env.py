"""Alembic environment for Threadline's schema.

Migrations run inside the server at start-up (`threadline.storage.sql.migrate`), which hands
over an open connection already inside a write transaction; there is no alembic.ini and no
offline mode. `render_as_batch` lets future ALTERs work on SQLite, which rebuilds tables to
change them.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from threadline.storage.sql.tables import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "Threadline migrations run through threadline.storage.sql.migrate.upgrade(), "
        "which passes the connection in config.attributes['connection']"
    )
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
