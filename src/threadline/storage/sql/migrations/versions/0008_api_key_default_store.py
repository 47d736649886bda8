"""api_keys.default_store: what an omitted `store` means for one key's requests (null: the
tenant's default).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("default_store", sa.Boolean, nullable=True))
