"""PostgreSQL's item search reads a table of words filled in batches, as SQLite's FTS5 is, in
place of migration 0013's GIN index on an expression of every item's JSON.

That index cost every stored turn its `to_tsvector` inside the turn's transaction, and it read
every string of the JSON, nested ones too: the base64 of an inline image or file, the
`input_text` of each part's type. The words are now `storage/item_search.py`'s `item_text`,
computed in the process (the same text on every backend) and written off the turn's path
(storage/sql/item_search.py: at each retention sweep and before each search). A deleted item
takes its words with it (the foreign key cascades). The table starts empty: existing items are
taken in by those batches, the oldest first.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None

_POSTGRES = (
    "DROP INDEX IF EXISTS ix_items_search",
    "CREATE TABLE item_words ("
    "seq BIGINT PRIMARY KEY REFERENCES items (seq) ON DELETE CASCADE, "
    "tenant VARCHAR NOT NULL, "
    "words TSVECTOR NOT NULL)",
    "CREATE INDEX ix_item_words_words ON item_words USING gin (words)",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _POSTGRES:
            op.execute(statement)
