"""The MongoDB schema: collections, their indexes, and the forward-only steps that build them.

The schema version lives in one document, `{_id: "schema_version", version: N}` of the
`threadline_meta` collection. `migrate()` runs every step newer than it, in order, and records
each. Steps must be idempotent (creating an index that exists with the same options does
nothing), so two replicas starting together may both run a step and both succeed; the version
only ever moves forwards (`$max`).

MongoDB offers multi-document transactions only on a replica set (or a sharded cluster), and
Threadline's atomic writes need them, so migration refuses a standalone server up front with a
message that says how to fix it, instead of failing on the first turn.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from threadline.storage.mongo.documents import Document

RESPONSES = "responses"
ITEMS = "items"
CONVERSATIONS = "conversations"
API_KEYS = "api_keys"
USAGE_RECORDS = "usage_records"
KEY_USAGE_WINDOWS = "key_usage_windows"
AUDIT_EVENTS = "audit_events"
LEGAL_HOLDS = "legal_holds"
BACKGROUND_JOBS = "background_jobs"
RESPONSE_EVENTS = "response_events"
WEBHOOK_ENDPOINTS = "webhook_endpoints"
WEBHOOK_DELIVERIES = "webhook_deliveries"
CHAT_COMPLETIONS = "chat_completions"
CHANGES = "changes"
VECTOR_STORES = "vector_stores"
VECTOR_STORE_FILES = "vector_store_files"
VECTOR_FILE_BATCHES = "vector_file_batches"
VECTOR_CHUNKS = "vector_chunks"
CHANGE_SEQ_ID = "change_seq"
META = "threadline_meta"
SCHEMA_VERSION_ID = "schema_version"

Database = AsyncDatabase[Document]


class MongoSetupError(RuntimeError):
    """The MongoDB deployment cannot serve Threadline as configured."""


@dataclass(frozen=True, slots=True)
class IndexSpec:
    collection: str
    name: str
    keys: list[tuple[str, int]]
    options: dict[str, Any]


def _present(field: str) -> dict[str, Any]:
    return {"partialFilterExpression": {field: {"$exists": True}}}


INDEXES_V1 = (
    # Retention sweeps by age; deleting a conversation finds its turns.
    IndexSpec(RESPONSES, "created_at", [("created_at", 1)], {}),
    IndexSpec(RESPONSES, "conversation_id", [("conversation_id", 1)], {}),
    # The backstops of the contiguity promise, and the lookups of load_chain/load_conversation.
    IndexSpec(
        ITEMS,
        "response_id_position",
        [("response_id", 1), ("position", 1)],
        {"unique": True, **_present("response_id")},
    ),
    IndexSpec(
        ITEMS,
        "conversation_id_conversation_position",
        [("conversation_id", 1), ("conversation_position", 1)],
        {"unique": True, **_present("conversation_id")},
    ),
    IndexSpec(ITEMS, "tenant_item_id", [("tenant", 1), ("item_id", 1)], {}),
    # Listing a tenant's conversations, most recent first; expiring idle ones.
    IndexSpec(
        CONVERSATIONS,
        "tenant_last_active_at_id",
        [("tenant", 1), ("last_active_at", -1), ("_id", -1)],
        {},
    ),
    IndexSpec(CONVERSATIONS, "status_last_active_at", [("status", 1), ("last_active_at", 1)], {}),
    IndexSpec(API_KEYS, "key_hash", [("key_hash", 1)], {"unique": True}),
    IndexSpec(
        API_KEYS, "active_name", [("active_name", 1)], {"unique": True, **_present("active_name")}
    ),
)


async def _create_indexes_v1(db: Database) -> None:
    for spec in INDEXES_V1:
        await db[spec.collection].create_index(spec.keys, name=spec.name, **spec.options)


@dataclass(frozen=True, slots=True)
class Step:
    version: int
    description: str
    run: Callable[[Database], Awaitable[None]]


RUNNING_TURNS_INDEX = IndexSpec(
    # Only running turns are leased; renewing and ending lapsed ones reads just them.
    RESPONSES,
    "running_lease_until",
    [("lease_until", 1)],
    {"partialFilterExpression": {"status": "in_progress"}},
)


async def _index_running_turns(db: Database) -> None:
    spec = RUNNING_TURNS_INDEX
    await db[spec.collection].create_index(spec.keys, name=spec.name, **spec.options)


BACKGROUND_INDEXES = (
    # The queue, oldest first; a conversation's earlier jobs; a process's jobs.
    IndexSpec(BACKGROUND_JOBS, "queue", [("owner", 1), ("seq", 1)], {}),
    IndexSpec(BACKGROUND_JOBS, "conversation", [("conversation_id", 1), ("seq", 1)], {}),
    IndexSpec(
        RESPONSE_EVENTS,
        "response_sequence",
        [("response_id", 1), ("sequence_number", 1)],
        {"unique": True},
    ),
    # An endpoint's deliveries; the due ones; the delivery log, newest first.
    IndexSpec(WEBHOOK_ENDPOINTS, "tenant", [("tenant", 1)], {}),
    IndexSpec(WEBHOOK_DELIVERIES, "endpoint", [("endpoint_id", 1)], {}),
    IndexSpec(WEBHOOK_DELIVERIES, "due", [("status", 1), ("next_attempt_at", 1)], {}),
    IndexSpec(WEBHOOK_DELIVERIES, "log", [("tenant", 1), ("created_at", -1)], {}),
)


def _indexes(specs: tuple[IndexSpec, ...]) -> Callable[[Database], Awaitable[None]]:
    """A step that creates `specs`."""

    async def create(db: Database) -> None:
        for spec in specs:
            await db[spec.collection].create_index(spec.keys, name=spec.name, **spec.options)

    return create


COMPLETION_INDEXES = (
    # A tenant's list, in either order; the retention sweep.
    IndexSpec(
        CHAT_COMPLETIONS, "tenant_created", [("tenant", 1), ("created_at", 1), ("_id", 1)], {}
    ),
    IndexSpec(CHAT_COMPLETIONS, "created", [("created_at", 1)], {}),
)


CHANGE_INDEXES = (
    # A tenant's feed in order; forgetting old tombstones.
    IndexSpec(CHANGES, "tenant_seq", [("tenant", 1), ("seq", 1)], {}),
    IndexSpec(CHANGES, "deleted_changed_at", [("deleted", 1), ("changed_at", 1)], {}),
)
_BACKFILL_BATCH = 1000


async def _start_change_feed(db: Database) -> None:
    """The feed's indexes, and an entry for every object already stored, as of its creation.
    Entries are only ever inserted here (`$setOnInsert`), so a replica running this step
    alongside another, or alongside writes that already enter changes, loses nothing."""
    await _indexes(CHANGE_INDEXES)(db)
    sources: tuple[tuple[str, str, Document, Callable[[Document], Document]], ...] = (
        (
            RESPONSES,
            "response",
            {},
            lambda d: {"changed_at": d.get("completed_at") or d["created_at"]},
        ),
        (CONVERSATIONS, "conversation", {}, lambda d: {"changed_at": d["last_active_at"]}),
        (CHAT_COMPLETIONS, "chat.completion", {}, lambda d: {"changed_at": d["created_at"]}),
        (
            ITEMS,
            "conversation.item",
            {"conversation_id": {"$exists": True}},
            lambda d: {
                "changed_at": d["created_at"],
                "conversation_id": d["conversation_id"],
                "position": d["conversation_position"],
            },
        ),
    )
    seq = 0
    for collection, kind, query, fields in sources:
        batch: list[UpdateOne] = []
        async for document in db[collection].find(query):
            seq += 1
            key = (
                f"{document['conversation_id']}:{document['conversation_position']}"
                if kind == "conversation.item"
                else document["_id"]
            )
            entry = {"kind": kind, "tenant": document["tenant"], "seq": seq, "deleted": False}
            entry.setdefault("conversation_id", None)
            entry.setdefault("position", None)
            entry.update(fields(document))
            batch.append(UpdateOne({"_id": f"{kind}:{key}"}, {"$setOnInsert": entry}, upsert=True))
            if len(batch) == _BACKFILL_BATCH:
                await db[CHANGES].bulk_write(batch, ordered=False)
                batch = []
        if batch:
            await db[CHANGES].bulk_write(batch, ordered=False)
    await db[META].update_one({"_id": CHANGE_SEQ_ID}, {"$max": {"seq": seq}}, upsert=True)


VECTOR_INDEXES = (
    # A tenant's stores; a store's files (and a batch's); the ingestion queue; a file's chunks.
    IndexSpec(VECTOR_STORES, "tenant_created", [("tenant", 1), ("created_at", 1), ("_id", 1)], {}),
    IndexSpec(VECTOR_STORE_FILES, "store_created", [("vector_store_id", 1), ("created_at", 1)], {}),
    IndexSpec(VECTOR_STORE_FILES, "batch", [("batch_id", 1)], {}),
    IndexSpec(VECTOR_STORE_FILES, "queue", [("status", 1), ("lease_until", 1)], {}),
    IndexSpec(VECTOR_CHUNKS, "store_file", [("vector_store_id", 1), ("file_id", 1)], {}),
)

USAGE_INDEXES = (
    # A report's time range, across tenants and within one.
    IndexSpec(USAGE_RECORDS, "created", [("created_at", 1)], {}),
    IndexSpec(USAGE_RECORDS, "tenant_created", [("tenant", 1), ("created_at", 1)], {}),
    IndexSpec(KEY_USAGE_WINDOWS, "window_start", [("window", 1), ("start", 1)], {}),
)

AUDIT_INDEXES = (
    IndexSpec(AUDIT_EVENTS, "tenant_at", [("tenant", 1), ("at", -1), ("_id", -1)], {}),
    IndexSpec(AUDIT_EVENTS, "at", [("at", -1), ("_id", -1)], {}),
)


STEPS = (
    Step(1, "collections' indexes", _create_indexes_v1),
    Step(2, "running turns' leases", _index_running_turns),
    Step(3, "background jobs, their kept events, webhooks", _indexes(BACKGROUND_INDEXES)),
    Step(4, "stored chat completions", _indexes(COMPLETION_INDEXES)),
    Step(5, "the change feed", _start_change_feed),
    Step(6, "vector stores", _indexes(VECTOR_INDEXES)),
    Step(7, "the usage ledger and key windows", _indexes(USAGE_INDEXES)),
    Step(8, "the audit trail", _indexes(AUDIT_INDEXES)),
)
SCHEMA_VERSION = STEPS[-1].version


async def require_transactions(db: Database) -> None:
    """Raise MongoSetupError unless the server is a replica-set member or a mongos router."""
    hello = await db.command("hello")
    if "setName" in hello or hello.get("msg") == "isdbgrid":
        return
    raise MongoSetupError(
        "This MongoDB server is standalone; Threadline needs multi-document transactions, "
        "which MongoDB offers only on a replica set or a sharded cluster. A single-node "
        "replica set is enough: start mongod with --replSet rs0, run rs.initiate() once, and "
        "add ?replicaSet=rs0 to the URL (see docs/storage-mongodb.md)."
    )


async def schema_version(db: Database) -> int:
    found = await db[META].find_one({"_id": SCHEMA_VERSION_ID})
    return 0 if found is None else int(found["version"])


async def upgrade(db: Database) -> None:
    await require_transactions(db)
    current = await schema_version(db)
    if current > SCHEMA_VERSION:
        raise MongoSetupError(
            f"The database's schema version is {current}, newer than this Threadline's "
            f"({SCHEMA_VERSION}); upgrade Threadline"
        )
    for step in STEPS:
        if step.version <= current:
            continue
        await step.run(db)
        await db[META].update_one(
            {"_id": SCHEMA_VERSION_ID},
            {"$max": {"version": step.version}},
            upsert=True,
        )
