"""Full-text search over items: an FTS5 table on SQLite (filled now with the items already
stored, later by the store, in batches, off the turns' writes; a trigger drops deleted items),
a GIN index over the items' English `tsvector` on PostgreSQL (built now: on a large database
this migration takes a while).

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


# An insert trigger would cost every stored turn about a quarter of a millisecond of the one
# writer's time (json_tree and the tokenizer): items are indexed in batches instead, by
# storage/sql/item_search.py's `index_items`, with this same text expression.
_TEXT_OF_DATA = (
    "(SELECT coalesce(group_concat(value, ' '), '') FROM json_tree(data) "
    f"WHERE type = 'text' AND (typeof(key) != 'text' OR key NOT IN ({_SKIPPED_SQL})))"
)

_SQLITE = (
    "CREATE VIRTUAL TABLE items_fts USING fts5("
    "text, content='', contentless_delete=1, "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN "
    "DELETE FROM items_fts WHERE rowid = old.seq; END",
    f"INSERT INTO items_fts(rowid, text) SELECT seq, {_TEXT_OF_DATA} FROM items",
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
