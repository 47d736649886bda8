"""chat_completions: the chat completions created with `store: true`.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "chat_completions",
        sa.Column("id", sa.String, nullable=False),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("completion", sa.Text, nullable=False),
        sa.Column("messages", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chat_completions"),
    )
    op.create_index(
        "ix_chat_completions_tenant_created_at_id",
        "chat_completions",
        ["tenant", "created_at", "id"],
    )
    op.create_index("ix_chat_completions_created_at", "chat_completions", ["created_at"])
