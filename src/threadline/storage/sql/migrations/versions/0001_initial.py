"""Initial schema: responses, conversations, items, api_keys.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "responses",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("settings", sa.Text, nullable=False),
        sa.Column("previous_response_id", sa.String),
        sa.Column("conversation_id", sa.String),
        sa.Column("conversation_position", sa.BigInteger),
        sa.Column("usage", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("incomplete_details", sa.Text),
        sa.Column("completed_at", sa.Double),
        sa.PrimaryKeyConstraint("id", name="pk_responses"),
    )
    op.create_index("ix_responses_created_at", "responses", ["created_at"])
    op.create_index("ix_responses_conversation_id", "responses", ["conversation_id"])

    op.create_table(
        "conversations",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("last_active_at", sa.Double, nullable=False),
        sa.Column("status_changed_at", sa.Double),
        sa.Column("next_position", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
    )
    op.create_index(
        "ix_conversations_tenant_last_active_at_id",
        "conversations",
        ["tenant", "last_active_at", "id"],
    )
    op.create_index(
        "ix_conversations_status_last_active_at", "conversations", ["status", "last_active_at"]
    )

    op.create_table(
        "items",
        sa.Column("seq", RowId, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("item_id", sa.String, nullable=False),
        sa.Column("response_id", sa.String),
        sa.Column("kind", sa.String),
        sa.Column("position", sa.Integer),
        sa.Column("conversation_id", sa.String),
        sa.Column("conversation_position", sa.BigInteger),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_items"),
        sa.ForeignKeyConstraint(
            ["response_id"], ["responses.id"], name="fk_items_response_id_responses"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name="fk_items_conversation_id_conversations"
        ),
    )
    op.create_index(
        "uq_items_response_id_position", "items", ["response_id", "position"], unique=True
    )
    op.create_index(
        "uq_items_conversation_id_conversation_position",
        "items",
        ["conversation_id", "conversation_position"],
        unique=True,
    )
    op.create_index("ix_items_tenant_item_id", "items", ["tenant", "item_id"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("key_hash", sa.String, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("revoked_at", sa.Double),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
    )
    op.create_index("uq_api_keys_key_hash", "api_keys", ["key_hash"], unique=True)
    op.create_index(
        "uq_api_keys_active_name",
        "api_keys",
        ["name"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
