"""responses.owner / lease_until: a turn is stored when it starts, leased to its process.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("responses") as batch:
        batch.add_column(sa.Column("owner", sa.String))
        batch.add_column(sa.Column("lease_until", sa.Double))
    op.create_index(
        "ix_responses_running_lease_until",
        "responses",
        ["lease_until"],
        sqlite_where=sa.text("status = 'in_progress'"),
        postgresql_where=sa.text("status = 'in_progress'"),
    )
