"""Vector stores: stores, their files and batches, the chunks with their embeddings, and the
keyword index over the chunks (FTS5 on SQLite, a GIN index on PostgreSQL); on PostgreSQL with
the `cube` extension, the embeddings also as cubes for a faster exact ranking.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, REAL

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

# The keyword index: FTS5 over the chunk texts, stemmed as English (porter) on any script
# (unicode61); an external-content table, so the text is stored once, kept by the triggers.
_SQLITE_KEYWORD_INDEX = (
    "CREATE VIRTUAL TABLE vector_chunks_fts USING fts5("
    "text, content='vector_chunks', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER vector_chunks_fts_insert AFTER INSERT ON vector_chunks BEGIN "
    "INSERT INTO vector_chunks_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER vector_chunks_fts_delete AFTER DELETE ON vector_chunks BEGIN "
    "INSERT INTO vector_chunks_fts(vector_chunks_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); END",
)
_POSTGRES_KEYWORD_INDEX = (
    "CREATE INDEX ix_vector_chunks_search ON vector_chunks "
    "USING gin (to_tsvector('english', text))",
)

# PostgreSQL's `cube` (a contrib extension, trusted: the database's owner may create it) holds
# up to 100 dimensions; an embedding of up to 1,600 is kept as up to 16 cubes beside its
# `real[]`, filled by a trigger, so the exact ranking is a sum of C-computed distances rather
# than a dot product over unnested arrays (about ten times faster: docs/performance.md).
_PARTS, _PART_DIMS = 16, 100


def _cube_parts() -> tuple[str, ...]:
    fills = "\n".join(
        f"    NEW.part{k} := CASE WHEN n > {(k - 1) * _PART_DIMS} THEN "
        f"cube(NEW.embedding[{(k - 1) * _PART_DIMS + 1}:{k * _PART_DIMS}]::float8[]) END;"
        for k in range(1, _PARTS + 1)
    )
    columns = ", ".join(f"ADD COLUMN part{k} cube" for k in range(1, _PARTS + 1))
    return (
        f"ALTER TABLE vector_chunks {columns}",
        "CREATE FUNCTION threadline_chunk_parts() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "DECLARE n int := cardinality(NEW.embedding);\n"
        "BEGIN\n"
        f"  IF n <= {_PARTS * _PART_DIMS} THEN\n{fills}\n  END IF;\n"
        "  RETURN NEW;\n"
        "END $$",
        "CREATE TRIGGER vector_chunks_parts BEFORE INSERT OR UPDATE OF embedding "
        "ON vector_chunks FOR EACH ROW EXECUTE FUNCTION threadline_chunk_parts()",
    )


def _have_cube() -> bool:
    """Whether `cube` is (or could now be) installed; a refusal leaves the transaction usable."""
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS cube")
    except sa.exc.DBAPIError:
        return False
    return True


def upgrade() -> None:
    op.create_table(
        "vector_stores",
        sa.Column("id", sa.String, nullable=False),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("name", sa.String),
        sa.Column("description", sa.Text),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("last_active_at", sa.Double, nullable=False),
        sa.Column("embedding_model", sa.String, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("expires_after_days", sa.Integer),
        sa.PrimaryKeyConstraint("id", name="pk_vector_stores"),
    )
    op.create_index(
        "ix_vector_stores_tenant_created_at_id", "vector_stores", ["tenant", "created_at", "id"]
    )
    op.create_table(
        "vector_store_files",
        sa.Column("vector_store_id", sa.String, nullable=False),
        sa.Column("file_id", sa.String, nullable=False),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("filename", sa.String, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("chunking", sa.Text, nullable=False),
        sa.Column("attributes", sa.Text),
        sa.Column("usage_bytes", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("batch_id", sa.String),
        sa.Column("owner", sa.String),
        sa.Column("lease_until", sa.Double),
        sa.PrimaryKeyConstraint("vector_store_id", "file_id", name="pk_vector_store_files"),
        sa.ForeignKeyConstraint(
            ["vector_store_id"],
            ["vector_stores.id"],
            name="fk_vector_store_files_vector_store_id_vector_stores",
        ),
    )
    op.create_index(
        "ix_vector_store_files_status_lease_until",
        "vector_store_files",
        ["status", "lease_until"],
    )
    op.create_index("ix_vector_store_files_batch_id", "vector_store_files", ["batch_id"])
    op.create_table(
        "vector_file_batches",
        sa.Column("id", sa.String, nullable=False),
        sa.Column("vector_store_id", sa.String, nullable=False),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("cancelled", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_vector_file_batches"),
        sa.ForeignKeyConstraint(
            ["vector_store_id"],
            ["vector_stores.id"],
            name="fk_vector_file_batches_vector_store_id_vector_stores",
        ),
    )
    op.create_table(
        "vector_chunks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            autoincrement=True,
        ),
        sa.Column("vector_store_id", sa.String, nullable=False),
        sa.Column("file_id", sa.String, nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.Column(
            "embedding", sa.LargeBinary().with_variant(ARRAY(REAL), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_vector_chunks"),
    )
    op.create_index(
        "ix_vector_chunks_vector_store_id_file_id_ordinal",
        "vector_chunks",
        ["vector_store_id", "file_id", "ordinal"],
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    statements: tuple[str, ...] = _POSTGRES_KEYWORD_INDEX if postgres else _SQLITE_KEYWORD_INDEX
    if postgres and _have_cube():
        statements += _cube_parts()
    for statement in statements:
        op.execute(statement)
