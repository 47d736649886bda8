"""Legal holds: `legal_holds`.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "legal_holds",
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("target", sa.String, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("placed_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "kind", "target", name="pk_legal_holds"),
    )
