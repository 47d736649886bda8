"""background_jobs and response_events: background turns are jobs in the store, and the
events of a streamed one are kept so its stream can be resumed. webhook_endpoints and
webhook_deliveries: the endpoints told when a background response ends, and the outbox.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "background_jobs",
        sa.Column("seq", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("response_id", sa.String, nullable=False),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("conversation_id", sa.String),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("owner", sa.String),
        sa.Column("side_effect", sa.Boolean, nullable=False),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_background_jobs"),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["responses.id"],
            name="fk_background_jobs_response_id_responses",
        ),
    )
    op.create_index(
        "uq_background_jobs_response_id", "background_jobs", ["response_id"], unique=True
    )
    op.create_index(
        "ix_background_jobs_conversation_id_seq", "background_jobs", ["conversation_id", "seq"]
    )
    op.create_index("ix_background_jobs_owner_seq", "background_jobs", ["owner", "seq"])
    op.create_table(
        "response_events",
        sa.Column("response_id", sa.String, nullable=False),
        sa.Column("sequence_number", sa.Integer, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("response_id", "sequence_number", name="pk_response_events"),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["responses.id"],
            name="fk_response_events_response_id_responses",
        ),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String, nullable=False),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("url", sa.String, nullable=False),
        sa.Column("event_types", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("secret_hint", sa.String, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_endpoints"),
    )
    op.create_index("ix_webhook_endpoints_tenant", "webhook_endpoints", ["tenant"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String, nullable=False),
        sa.Column("event_id", sa.String, nullable=False),
        sa.Column("endpoint_id", sa.String, nullable=False),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("event_type", sa.String, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Double),
        sa.Column("owner", sa.String),
        sa.Column("lease_until", sa.Double),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", sa.Double),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name="fk_webhook_deliveries_endpoint_id_webhook_endpoints",
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_status_next_attempt_at",
        "webhook_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_index(
        "ix_webhook_deliveries_tenant_created_at", "webhook_deliveries", ["tenant", "created_at"]
    )
