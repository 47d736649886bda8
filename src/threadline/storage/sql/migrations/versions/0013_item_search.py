"""Full-text search over items: an FTS5 table kept by triggers on SQLite (filled now with the
items already stored), a GIN index over the items' English `tsvector` on PostgreSQL (built now:
on a large database this migration takes a while).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None

# storage/item_search.py's SKIPPED_KEYS as they were at this revision: a later change to that
# list needs a migration of its own.
_SKIPPED: tuple[str, ...] = ("id", "type", "role", "status", "call_id", "encrypted_content")
_SKIPPED += ("file_data", "image_url", "file_id", "detail")
_SKIPPED_SQL = ", ".join(f"'{key}'" for key in _SKIPPED)


def _text_of(column: str) -> str:
    return (
        f"(SELECT coalesce(group_concat(value, ' '), '') FROM json_tree({column}) "
        f"WHERE type = 'text' AND (typeof(key) != 'text' OR key NOT IN ({_SKIPPED_SQL})))"
    )


_SQLITE = (
    "CREATE VIRTUAL TABLE items_fts USING fts5("
    "text, content='', contentless_delete=1, "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN "
    f"INSERT INTO items_fts(rowid, text) VALUES (new.seq, {_text_of('new.data')}); END",
    "CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN "
    "DELETE FROM items_fts WHERE rowid = old.seq; END",
    f"INSERT INTO items_fts(rowid, text) SELECT seq, {_text_of('data')} FROM items",
)

# The same expression must be written in the queries (storage/sql/item_search.py) for the
# planner to use the index.
_POSTGRES = (
    "CREATE INDEX ix_items_search ON items USING gin (jsonb_to_tsvector('english', "
    "(data::jsonb) - 'id' - 'type' - 'role' - 'status' - 'call_id' - 'encrypted_content', "
    "'[\"string\"]'))",
)


def upgrade() -> None:
    statements = _SQLITE if op.get_bind().dialect.name == "sqlite" else _POSTGRES
    for statement in statements:
        op.execute(statement)
