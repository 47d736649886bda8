"""conversations.turn_owner / turn_lease_until: one turn at a time in a conversation.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("turn_owner", sa.String))
        batch.add_column(sa.Column("turn_lease_until", sa.Double))
