"""changes: the change feed a pipeline export reads (storage/sql/changes.py).

One row per exported object (a response, a conversation, an item placed in a conversation, a
stored chat completion): the triggers below rewrite it, in the transaction of the write that
changed the object, with the next `seq` and, on PostgreSQL, the id of that transaction (`txid`);
a delete turns it into a tombstone. Triggers rather than code in every write path: no write,
present or future (a retention sweep, `db copy`, an operator's SQL), can change an object
without the feed seeing it.

Existing objects are entered as of their creation, so the first export finds everything.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

# (kind, table, the columns whose change re-exports the object)
_WATCHED = (
    (
        "response",
        "responses",
        (
            "status",
            "settings",
            "usage",
            "error",
            "incomplete_details",
            "completed_at",
            "conversation_id",
        ),
    ),
    (
        "conversation",
        "conversations",
        ("metadata", "status", "status_changed_at", "last_active_at"),
    ),
    ("chat.completion", "chat_completions", ("metadata",)),
)
_ITEM = "conversation.item"


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("key", sa.String, nullable=False),
        sa.Column("tenant", sa.String, nullable=False),
        sa.Column("txid", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("changed_at", sa.Double, nullable=False),
        sa.Column("conversation_id", sa.String),
        sa.Column("position", sa.BigInteger),
        sa.PrimaryKeyConstraint("kind", "key", name="pk_changes"),
    )
    op.create_index("ix_changes_tenant_txid_seq", "changes", ["tenant", "txid", "seq"])
    op.create_index("ix_changes_seq", "changes", ["seq"])
    op.create_index("ix_changes_deleted_changed_at", "changes", ["deleted", "changed_at"])
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()
    _backfill()


def _backfill() -> None:
    # Numbered in the order the objects last changed, so an export starts with the oldest.
    op.execute(
        f"""
        INSERT INTO changes
            (kind, key, tenant, txid, seq, deleted, changed_at, conversation_id, position)
        SELECT kind, key, tenant, 0, row_number() OVER (ORDER BY changed_at, kind, key),
               false, changed_at, conversation_id, position
        FROM (
            SELECT 'response' AS kind, id AS key, tenant,
                   COALESCE(completed_at, created_at) AS changed_at,
                   CAST(NULL AS VARCHAR) AS conversation_id, CAST(NULL AS BIGINT) AS position
            FROM responses
            UNION ALL
            SELECT 'conversation', id, tenant, last_active_at, NULL, NULL FROM conversations
            UNION ALL
            SELECT '{_ITEM}', conversation_id || ':' || conversation_position, tenant,
                   created_at, conversation_id, conversation_position
            FROM items WHERE conversation_id IS NOT NULL
            UNION ALL
            SELECT 'chat.completion', id, tenant, created_at, NULL, NULL FROM chat_completions
        ) AS existing
        """
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval('changes_seq', (SELECT COALESCE(MAX(seq), 0) + 1 FROM changes))")


# -- SQLite ------------------------------------------------------------------------------------
# Writers are serialized by the database lock, so `seq` is in commit order and `txid` is 0.
_SQLITE_NOW = "(julianday('now') - 2440587.5) * 86400.0"


def _sqlite_upsert(kind: str, key: str, row: str, deleted: bool, where: str = "") -> str:
    item = kind == _ITEM
    return f"""
        INSERT INTO changes
            (kind, key, tenant, txid, seq, deleted, changed_at, conversation_id, position)
        VALUES (
            '{kind}', {key}, {row}.tenant, 0, (SELECT COALESCE(MAX(seq), 0) + 1 FROM changes),
            {int(deleted)}, {_SQLITE_NOW},
            {f"{row}.conversation_id" if item else "NULL"},
            {f"{row}.conversation_position" if item else "NULL"}
        )
        ON CONFLICT (kind, key) DO UPDATE SET
            tenant = excluded.tenant, seq = excluded.seq, deleted = excluded.deleted,
            changed_at = excluded.changed_at;
    """


def _sqlite_triggers() -> None:
    for kind, table, columns in _WATCHED:
        changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)
        for event, row, deleted, when in (
            ("INSERT", "NEW", False, ""),
            ("UPDATE", "NEW", False, f"WHEN {changed}"),
            ("DELETE", "OLD", True, ""),
        ):
            op.execute(
                f"""
                CREATE TRIGGER changes_{table}_{event.lower()} AFTER {event} ON {table}
                FOR EACH ROW {when} BEGIN {_sqlite_upsert(kind, f"{row}.id", row, deleted)} END
                """
            )
    key = "{row}.conversation_id || ':' || {row}.conversation_position"
    for name, event, row, deleted, when in (
        ("insert", "INSERT", "NEW", False, "WHEN NEW.conversation_id IS NOT NULL"),
        # A started turn's input joins its conversation when the turn is saved.
        (
            "join",
            "UPDATE",
            "NEW",
            False,
            "WHEN OLD.conversation_id IS NULL AND NEW.conversation_id IS NOT NULL",
        ),
        # An item leaves a conversation by being deleted, or by being released from it while
        # the response that also owns it stays.
        (
            "leave",
            "UPDATE",
            "OLD",
            True,
            "WHEN OLD.conversation_id IS NOT NULL AND NEW.conversation_id IS NULL",
        ),
        ("delete", "DELETE", "OLD", True, "WHEN OLD.conversation_id IS NOT NULL"),
    ):
        op.execute(
            f"""
            CREATE TRIGGER changes_items_{name} AFTER {event} ON items
            FOR EACH ROW {when} BEGIN {_sqlite_upsert(_ITEM, key.format(row=row), row, deleted)} END
            """
        )


# -- PostgreSQL --------------------------------------------------------------------------------
# `seq` comes from a sequence, whose numbers are taken in one order and committed in another;
# `txid` is what lets a reader never skip a late commit (changes.py: the xmin horizon).
_PG_FUNCTION = """
CREATE FUNCTION threadline_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    change_kind text := TG_ARGV[0];
    is_item boolean := change_kind = 'conversation.item';
    row_ record;
    gone boolean := TG_OP = 'DELETE';
    key_ text;
    conversation text;
    position_ bigint;
BEGIN
    -- An item that leaves its conversation without being deleted is released from it.
    IF is_item AND TG_OP = 'UPDATE' THEN gone := NEW.conversation_id IS NULL; END IF;
    IF gone THEN row_ := OLD; ELSE row_ := NEW; END IF;
    IF is_item THEN
        conversation := row_.conversation_id;
        position_ := row_.conversation_position;
        key_ := conversation || ':' || position_;
    ELSE
        key_ := row_.id;
    END IF;
    INSERT INTO changes
        (kind, key, tenant, txid, seq, deleted, changed_at, conversation_id, position)
    VALUES (
        change_kind, key_, row_.tenant, pg_current_xact_id()::text::bigint, nextval('changes_seq'),
        gone, extract(epoch FROM clock_timestamp()), conversation, position_
    )
    ON CONFLICT (kind, key) DO UPDATE SET
        tenant = excluded.tenant, txid = excluded.txid, seq = excluded.seq,
        deleted = excluded.deleted, changed_at = excluded.changed_at;
    RETURN NULL;
END
$$
"""


def _postgresql_triggers() -> None:
    op.execute("CREATE SEQUENCE changes_seq")
    op.execute(_PG_FUNCTION)
    for kind, table, columns in _WATCHED:
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
        for event, when in (("INSERT", ""), ("UPDATE", f"WHEN ({changed})"), ("DELETE", "")):
            op.execute(
                f"""
                CREATE TRIGGER changes_{table}_{event.lower()} AFTER {event} ON {table}
                FOR EACH ROW {when} EXECUTE FUNCTION threadline_record_change('{kind}')
                """
            )
    for event, when in (
        ("INSERT", "WHEN (NEW.conversation_id IS NOT NULL)"),
        ("UPDATE", "WHEN (OLD.conversation_id IS DISTINCT FROM NEW.conversation_id)"),
        ("DELETE", "WHEN (OLD.conversation_id IS NOT NULL)"),
    ):
        op.execute(
            f"""
            CREATE TRIGGER changes_items_{event.lower()} AFTER {event} ON items
            FOR EACH ROW {when} EXECUTE FUNCTION threadline_record_change('{_ITEM}')
            """
        )
