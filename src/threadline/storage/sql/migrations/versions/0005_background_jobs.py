"""background_jobs and response_events: background turns are jobs in the store, and the
events of a streamed one are kept so its stream can be resumed.

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
