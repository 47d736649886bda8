"""The SQL schema: nineteen tables, written once for SQLite and PostgreSQL alike.

Items are the only place content lives. An item row is owned by a response (`response_id`,
`kind` input/output, `position` within the response), placed in a conversation
(`conversation_id`, `conversation_position`), or both, and it is inserted exactly once.
Continuing a chain or a conversation inserts only the new items, so a turn costs the same on the
thousandth turn as on the first.

`seq` is the row identity because an item id is not unique: a client may send back an item it
received earlier. The unique indexes on (response_id, position) and (conversation_id,
conversation_position) are the backstop of the contiguity promise: a broken position allocation
fails loudly instead of interleaving two turns. Conversation positions come from the
`conversations.next_position` counter, so they are never reused after an item is deleted.

`responses.owner` names the process running an `in_progress` turn and `lease_until` when its
lease lapses unless renewed; a lapsed one is ended `failed` by whichever process sweeps.

`conversations.turn_owner` is the response id of the turn running in the conversation, and
`turn_lease_until` when its claim lapses unless renewed (storage/base.py: one turn at a time).

`responses.conversation_position` records where a conversation turn begins in its conversation;
it is how `load_chain` finds the conversation items that precede a chain's oldest response.

`background_jobs` holds a background turn's job from `enqueue_turn` until its turn ends: the
create request it runs (`request`, with its tools' credentials, so never kept longer), the
process that took it (`owner`; its lease is the response's), whether a step with side effects
ran (it is then never run again) and whether its cancellation was asked for. `seq` orders the
queue. `response_events` keeps the stream events of a streamed background turn for resuming.

`webhook_endpoints` are the tenants' endpoints (`secret` sealed by the engine, `event_types` a
JSON list); `webhook_deliveries` is the outbox, written in the transaction that ends a
background response, and the delivery log (`owner`/`lease_until` while a process sends one).

`chat_completions` holds the stored chat completions: the completion as returned and the
request's messages (`completion`, `messages`, JSON), with the metadata (the only part that
changes) in a column of its own.

`changes` is the change feed (storage/changes.py): one row per exported object, rewritten by
triggers on `responses`, `conversations`, `items` and `chat_completions` (migration 0007 holds
them, and PostgreSQL's `changes_seq` sequence), so no write can bypass it.

`vector_stores`, `vector_store_files` (a file in a store: its ingestion status, its lease
while a process ingests it, `owner`/`lease_until`), `vector_file_batches` and `vector_chunks`
(a completed file's chunks, each with its unit-length embedding) hold the vector stores
(storage/vector_stores.py). Keyword search reads an index migration 0009 adds beside them: an
FTS5 table kept by triggers on SQLite, a GIN index on the chunks' English `tsvector` on
PostgreSQL; there, with the `cube` extension, it also keeps each embedding as cubes of 100
dimensions, for the vector ranking (`OUTSIDE_DEFINITIONS`).

`usage_records` is the usage ledger (storage/usage.py): one append-only row per model call,
with its cost. `key_usage_windows` counts each metered key's requests, tokens and spend per
minute, UTC day and UTC month, for its limits; old windows are pruned by the retention sweep.
`api_keys` carries each key's limits (`models` a JSON list).

Items are searched by their words through an index filled in batches by the store: `items_fts`
(FTS5, migration 0013) on SQLite, `item_words` (a `tsvector` per item under a GIN index,
migration 0014) on PostgreSQL.

`audit_events` is the audit trail (storage/audit.py): who did what to which object, when.
`legal_holds` names what erasure and retention must keep (storage/holds.py).

`store_state` is one row: `history_generation` counts the deletions that can change a stored
context (a response, a conversation, a conversation item, a retention sweep), so a process that
cached a context can tell, with one cheap read, that it still holds (context_cache.py).

JSON columns are TEXT holding orjson output, which SQLite's json functions and a PostgreSQL
`::jsonb` cast both read. This module is the current shape; migrations/versions/ is its history,
and a test compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, REAL

# SQLite only makes `INTEGER PRIMARY KEY` an alias of the rowid; PostgreSQL wants 64 bits.
RowId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

responses = Table(
    "responses",
    metadata,
    Column("id", String, primary_key=True),
    Column("tenant", String, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("status", String, nullable=False),
    Column("model", String, nullable=False),
    Column("settings", Text, nullable=False),
    Column("previous_response_id", String),
    Column("conversation_id", String),
    Column("conversation_position", BigInteger),
    Column("usage", Text),
    Column("error", Text),
    Column("incomplete_details", Text),
    Column("completed_at", Double),
    Column("owner", String),
    Column("lease_until", Double),
    Index("ix_responses_created_at", "created_at"),
    Index("ix_responses_conversation_id", "conversation_id"),
    # Only running turns are leased: the index holds just them.
    Index(
        "ix_responses_running_lease_until",
        "lease_until",
        sqlite_where=text("status = 'in_progress'"),
        postgresql_where=text("status = 'in_progress'"),
    ),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", String, primary_key=True),
    Column("tenant", String, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("status", String, nullable=False),
    Column("last_active_at", Double, nullable=False),
    Column("status_changed_at", Double),
    Column("next_position", BigInteger, nullable=False),
    Column("turn_owner", String),
    Column("turn_lease_until", Double),
    Index("ix_conversations_tenant_last_active_at_id", "tenant", "last_active_at", "id"),
    Index("ix_conversations_status_last_active_at", "status", "last_active_at"),
)

items = Table(
    "items",
    metadata,
    Column("seq", RowId, primary_key=True, autoincrement=True),
    Column("tenant", String, nullable=False),
    Column("item_id", String, nullable=False),
    Column("response_id", String, ForeignKey("responses.id")),
    Column("kind", String),
    Column("position", Integer),
    Column("conversation_id", String, ForeignKey("conversations.id")),
    Column("conversation_position", BigInteger),
    Column("created_at", Double, nullable=False),
    Column("data", Text, nullable=False),
    Index("uq_items_response_id_position", "response_id", "position", unique=True),
    Index(
        "uq_items_conversation_id_conversation_position",
        "conversation_id",
        "conversation_position",
        unique=True,
    ),
    Index("ix_items_tenant_item_id", "tenant", "item_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String, primary_key=True),
    Column("tenant", String, nullable=False),
    Column("name", String, nullable=False),
    Column("key_hash", String, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("revoked_at", Double),
    Column("default_store", Boolean),
    Column("expires_at", Double),
    Column("models", Text),
    Column("requests_per_minute", Integer),
    Column("tokens_per_minute", Integer),
    Column("daily_budget", Double),
    Column("monthly_budget", Double),
    Index("uq_api_keys_key_hash", "key_hash", unique=True),
    # A revoked key's name may be given to a new key.
    Index(
        "uq_api_keys_active_name",
        "name",
        unique=True,
        sqlite_where=text("revoked_at IS NULL"),
        postgresql_where=text("revoked_at IS NULL"),
    ),
)

background_jobs = Table(
    "background_jobs",
    metadata,
    Column("seq", RowId, primary_key=True, autoincrement=True),
    Column("response_id", String, ForeignKey("responses.id"), nullable=False),
    Column("tenant", String, nullable=False),
    Column("conversation_id", String),
    Column("request", Text, nullable=False),
    Column("owner", String),
    Column("side_effect", Boolean, nullable=False),
    Column("cancel_requested", Boolean, nullable=False),
    Index("uq_background_jobs_response_id", "response_id", unique=True),
    Index("ix_background_jobs_conversation_id_seq", "conversation_id", "seq"),
    Index("ix_background_jobs_owner_seq", "owner", "seq"),
)

response_events = Table(
    "response_events",
    metadata,
    Column("response_id", String, ForeignKey("responses.id"), primary_key=True),
    Column("sequence_number", Integer, primary_key=True),
    Column("data", Text, nullable=False),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String, primary_key=True),
    Column("tenant", String, nullable=False),
    Column("name", String, nullable=False),
    Column("url", String, nullable=False),
    Column("event_types", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("secret_hint", String, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Index("ix_webhook_endpoints_tenant", "tenant"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String, primary_key=True),
    Column("event_id", String, nullable=False),
    Column("endpoint_id", String, ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("tenant", String, nullable=False),
    Column("event_type", String, nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("status", String, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Double),
    Column("owner", String),
    Column("lease_until", Double),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("delivered_at", Double),
    Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_tenant_created_at", "tenant", "created_at"),
)

chat_completions = Table(
    "chat_completions",
    metadata,
    Column("id", String, primary_key=True),
    Column("tenant", String, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("model", String, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("completion", Text, nullable=False),
    Column("messages", Text, nullable=False),
    Index("ix_chat_completions_tenant_created_at_id", "tenant", "created_at", "id"),
    Index("ix_chat_completions_created_at", "created_at"),
)

changes = Table(
    "changes",
    metadata,
    Column("kind", String, primary_key=True),
    Column("key", String, primary_key=True),
    Column("tenant", String, nullable=False),
    Column("txid", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("changed_at", Double, nullable=False),
    Column("conversation_id", String),
    Column("position", BigInteger),
    Index("ix_changes_tenant_txid_seq", "tenant", "txid", "seq"),
    Index("ix_changes_seq", "seq"),
    Index("ix_changes_deleted_changed_at", "deleted", "changed_at"),
)

vector_stores = Table(
    "vector_stores",
    metadata,
    Column("id", String, primary_key=True),
    Column("tenant", String, nullable=False),
    Column("name", String),
    Column("description", Text),
    Column("created_at", Double, nullable=False),
    Column("last_active_at", Double, nullable=False),
    Column("embedding_model", String, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("expires_after_days", Integer),
    Index("ix_vector_stores_tenant_created_at_id", "tenant", "created_at", "id"),
)

vector_store_files = Table(
    "vector_store_files",
    metadata,
    Column("vector_store_id", String, ForeignKey("vector_stores.id"), primary_key=True),
    Column("file_id", String, primary_key=True),
    Column("tenant", String, nullable=False),
    Column("filename", String, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("status", String, nullable=False),
    Column("chunking", Text, nullable=False),
    Column("attributes", Text),
    Column("usage_bytes", BigInteger, nullable=False),
    Column("last_error", Text),
    Column("batch_id", String),
    Column("owner", String),
    Column("lease_until", Double),
    Index("ix_vector_store_files_status_lease_until", "status", "lease_until"),
    Index("ix_vector_store_files_batch_id", "batch_id"),
)

vector_file_batches = Table(
    "vector_file_batches",
    metadata,
    Column("id", String, primary_key=True),
    Column("vector_store_id", String, ForeignKey("vector_stores.id"), nullable=False),
    Column("tenant", String, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("cancelled", Boolean, nullable=False),
)

# float32 little-endian bytes on SQLite (sqlite-vec's vector format); real[] on PostgreSQL.
Embedding = LargeBinary().with_variant(ARRAY(REAL), "postgresql")

vector_chunks = Table(
    "vector_chunks",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("vector_store_id", String, nullable=False),
    Column("file_id", String, nullable=False),
    Column("ordinal", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("tokens", Integer, nullable=False),
    Column("embedding", Embedding, nullable=False),
    Index(
        "ix_vector_chunks_vector_store_id_file_id_ordinal", "vector_store_id", "file_id", "ordinal"
    ),
)

usage_records = Table(
    "usage_records",
    metadata,
    Column("seq", RowId, primary_key=True, autoincrement=True),
    Column("tenant", String, nullable=False),
    Column("api_key_id", String),
    Column("end_user", String),
    Column("kind", String, nullable=False),
    Column("model", String, nullable=False),
    Column("deployment", String, nullable=False),
    Column("object_id", String),
    Column("input_tokens", BigInteger, nullable=False),
    Column("cached_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("reasoning_tokens", BigInteger, nullable=False),
    Column("tool_calls", Integer, nullable=False),
    Column("latency_ms", Double, nullable=False),
    Column("cost", Double, nullable=False),
    Column("created_at", Double, nullable=False),
    Index("ix_usage_records_tenant_created_at", "tenant", "created_at"),
    Index("ix_usage_records_created_at", "created_at"),
)

key_usage_windows = Table(
    "key_usage_windows",
    metadata,
    Column("api_key_id", String, primary_key=True),
    Column("window", String, primary_key=True),
    Column("start", Double, primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("tokens", BigInteger, nullable=False),
    Column("cost", Double, nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", String, primary_key=True),
    Column("at", Double, nullable=False),
    Column("tenant", String),
    Column("actor", String, nullable=False),
    Column("action", String, nullable=False),
    Column("object_id", String),
    Column("details", Text, nullable=False),
    Index("ix_audit_events_tenant_at_id", "tenant", "at", "id"),
    Index("ix_audit_events_at_id", "at", "id"),
)

legal_holds = Table(
    "legal_holds",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("kind", String, primary_key=True),
    Column("target", String, primary_key=True),
    Column("reason", Text, nullable=False),
    Column("placed_at", Double, nullable=False),
)

OUTSIDE_DEFINITIONS = (
    "vector_chunks_fts",
    "ix_vector_chunks_search",
    "part",
    "items_fts",
    "item_words",
    "ix_item_words_words",
)
"""What migrations 0009, 0013 and 0014 add that these definitions do not describe (SQLAlchemy
has no FTS5 table, no expression index on both databases, no `cube` or `tsvector` type): the
keyword indexes of chunks and of items (with the prefix of FTS5's shadow tables), and
PostgreSQL's `cube` copies of the embeddings (`vector_chunks.part1`…`part16`, where the
extension could be created)."""

store_state = Table(
    "store_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("history_generation", BigInteger, nullable=False),
)
STATE_ROW = 1
