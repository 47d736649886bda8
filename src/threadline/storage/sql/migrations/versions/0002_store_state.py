"""store_state: the history generation that validates cached contexts.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    state = op.create_table(
        "store_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("history_generation", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_store_state"),
    )
    op.bulk_insert(state, [{"id": 1, "history_generation": 0}])
