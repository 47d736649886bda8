"""The usage ledger (`usage_records`), per-key usage windows (`key_usage_windows`) and the
limits of API keys (expiry, allowed models, rates, budgets).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("expires_at", sa.Double, nullable=True))
    op.add_column("api_keys", sa.Column("models", sa.Text, nullable=True))
    op.add_column("api_keys", sa.Column("requests_per_minute", sa.Integer, nullable=True))
    op.add_column("api_keys", sa.Column("tokens_per_minute", sa.Integer, nullable=True))
    op.add_column("api_keys", sa.Column("daily_budget", sa.Double, nullable=True))
    op.add_column("api_keys", sa.Column("monthly_budget", sa.Double, nullable=True))
    op.create_table(
        "usage_records",
        sa.Column("seq", _ROW_ID, nullable=False, autoincrement=True),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("api_key_id", sa.String),
        sa.Column("end_user", sa.String),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("model", sa.String, nullable=False),
        sa.Column("deployment", sa.String, nullable=False),
        sa.Column("object_id", sa.String),
        sa.Column("input_tokens", sa.BigInteger, nullable=False),
        sa.Column("cached_tokens", sa.BigInteger, nullable=False),
        sa.Column("output_tokens", sa.BigInteger, nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger, nullable=False),
        sa.Column("tool_calls", sa.Integer, nullable=False),
        sa.Column("latency_ms", sa.Double, nullable=False),
        sa.Column("cost", sa.Double, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_usage_records"),
    )
    op.create_index("ix_usage_records_tenant_created_at", "usage_records", ["tenant", "created_at"])
    op.create_index("ix_usage_records_created_at", "usage_records", ["created_at"])
    op.create_table(
        "key_usage_windows",
        sa.Column("api_key_id", sa.String, nullable=False),
        sa.Column("window", sa.String, nullable=False),
        sa.Column("start", sa.Double, nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("tokens", sa.BigInteger, nullable=False),
        sa.Column("cost", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("api_key_id", "window", "start", name="pk_key_usage_windows"),
    )
