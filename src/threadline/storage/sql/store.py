"""SqlStore: the storage contract on SQLAlchemy Core, for SQLite and PostgreSQL alike.

Core rather than the ORM: the store moves rows, not objects with identity, and a turn's save is
a handful of statements whose cost should be visible in responses.py.

Each operation's body is written once, as a sync function of a connection (responses.py,
conversations.py, api_keys.py); this class prepares its arguments and has the database run it
in one call (databases.py: a thread of the store's own on SQLite, asyncpg on PostgreSQL).

Writes are one transaction each. Appending to a conversation claims positions with
`UPDATE conversations SET next_position = next_position + n … RETURNING` inside the same
transaction as the item inserts; the row lock that UPDATE takes (PostgreSQL) or the database
write lock (SQLite) keeps a concurrent turn from claiming the same range, and the positions come
out in commit order. No lock lives in this process, so replicas sharing a PostgreSQL database
keep the same guarantee. Reads run on reader connections (see engines.py).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.engine import Connection, Engine, make_url

from threadline.storage.base import (
    EVERY_TENANT,
    ApiKeyRecord,
    CancelOutcome,
    CompletionFilter,
    CompletionPage,
    ConversationClaim,
    ConversationFilter,
    ConversationPage,
    ConversationRecord,
    ConversationStatus,
    Item,
    ItemPage,
    Job,
    Order,
    QueuedTurn,
    ResponseRecord,
    Store,
    StoredCompletion,
    StoredResponse,
    TenantScope,
    TurnRecord,
    TurnStart,
)
from threadline.storage.changes import ChangePage, ChangePosition
from threadline.storage.encoding import dumps
from threadline.storage.encryption import PLAIN, ContentCodec
from threadline.storage.response_listing import ResponseFilter, ResponsePage
from threadline.storage.sql import (
    api_keys,
    changes,
    completions,
    conversations,
    jobs,
    migrate,
    response_listing,
    responses,
    turn_statements,
    webhooks,
)
from threadline.storage.sql import queries as q
from threadline.storage.sql.audit import SqlAuditTrail
from threadline.storage.sql.cached_contexts import CachedContexts
from threadline.storage.sql.context_cache import DEFAULT_MAX_BYTES
from threadline.storage.sql.databases import HeldConnection, open_database
from threadline.storage.sql.holds import SqlLegalHolds
from threadline.storage.sql.item_search import SqlItemSearch
from threadline.storage.sql.items import item_row
from threadline.storage.sql.resealing import SqlResealing
from threadline.storage.sql.usage import SqlUsageLedger
from threadline.storage.sql.vector_methods import SqlVectorStores
from threadline.storage.usage import KeyLimits
from threadline.storage.webhook_records import DueDelivery, WebhookDelivery, WebhookEndpointRecord

P = ParamSpec("P")
T = TypeVar("T")

# Responses deleted per retention transaction, so a large sweep never holds SQLite's write lock
# for long while turns wait to be saved.
SWEEP_BATCH = 500


class SqlStore(
    SqlVectorStores,
    SqlUsageLedger,
    SqlAuditTrail,
    SqlLegalHolds,
    SqlItemSearch,
    SqlResealing,
    Store,
):
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 0,
        context_cache_bytes: int = DEFAULT_MAX_BYTES,
        codec: ContentCodec = PLAIN,
    ) -> None:
        """`url` is a SQLAlchemy URL, e.g. `sqlite+aiosqlite:////srv/threadline.db` (any SQLite
        driver name: the store uses the standard library's) or
        `postgresql+asyncpg://user:pass@host/db`; the pool sizes apply to PostgreSQL.
        `context_cache_bytes` bounds the contexts kept in memory (0: none; context_cache.py);
        `codec` stores content, sealed when it holds keys (encryption.py)."""
        self._db = open_database(make_url(url), pool_size=pool_size, max_overflow=max_overflow)
        self.writes_in_order = self._db.writes_in_order
        self._codec = codec
        self._contexts = CachedContexts(self._db, codec, context_cache_bytes)
        self._queued_here = False
        """A job was queued through this store since its last take: one is surely free
        (unless another process took it first, and then the take finds none)."""

    @property
    def engine(self) -> Engine:
        """The (sync) engine whose connections serve reads; its events see every read."""
        return self._db.engine

    @property
    def write_engine(self) -> Engine:
        """The (sync) engine whose transactions write (SQLite's readers are read-only)."""
        return self._db.write_engine

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(connection, ...)` on a reader connection, in one call (for tools and tests)."""
        return await self._db.read(fn, *args, **kwargs)

    async def write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(connection, ...)` in one write transaction, in one call."""
        return await self._db.write(fn, *args, **kwargs)

    def snapshot(self) -> AbstractAsyncContextManager[HeldConnection]:
        """A read-only connection that sees the database as it was when opened."""
        return self._db.snapshot()

    def transaction(self) -> AbstractAsyncContextManager[HeldConnection]:
        """A write transaction held across calls, committed when the block exits cleanly."""
        return self._db.transaction()

    # -- lifecycle ----------------------------------------------------------------------------
    async def migrate(self) -> None:
        await self._db.write(migrate.upgrade)

    async def close(self) -> None:
        await self._db.close()

    async def ping(self) -> None:
        await self._db.read(_ping)

    # -- responses ----------------------------------------------------------------------------
    async def save_turn(self, turn: TurnRecord) -> None:
        prepared = responses.prepare_turn(turn, self._codec)
        if self._db.statement_writes and not turn.background:
            whole_or_end = turn_statements.end_turn if turn.started else turn_statements.save_turn
            start = await self._db.write_statement(whole_or_end, prepared)
        else:
            start = await self._db.write(responses.save_turn, prepared)
        if self._contexts.enabled:
            self._contexts.remember_turn(turn, prepared, start)

    async def start_turn(self, start: TurnStart) -> None:
        rows = self._input_rows(start.response, start.input_items)
        row = responses.start_row(start, self._codec)
        if self._db.statement_writes:
            await self._db.write_statement(turn_statements.start_turn, row, rows)
        else:
            # Its end always follows, durably, and the turn is reported complete only then.
            await self._db.write_provisional(responses.start_turn, row, rows)

    async def renew_turns(self, owner: str, lease_until: float) -> int:
        return await self._db.write(responses.renew_turns, owner, lease_until)

    async def fail_abandoned_turns(self, now: float, error: dict[str, Any]) -> int:
        return await self._db.write(responses.fail_abandoned_turns, now, dumps(error))

    async def get_response(self, tenant: str, response_id: str) -> StoredResponse | None:
        return await self._db.read(responses.get_response, self._codec, tenant, response_id)

    # -- background jobs ----------------------------------------------------------------------
    async def enqueue_turn(self, turn: QueuedTurn) -> None:
        record = turn.response
        response_row = q.response_values(record, None, self._codec)
        rows = self._input_rows(record, turn.input_items)
        job_row = {
            "response_id": record.id,
            "tenant": record.tenant,
            "conversation_id": record.conversation_id,
            "request": self._codec.dump(turn.request),
            "owner": None,
            "side_effect": False,
            "cancel_requested": False,
        }
        await self._db.write(jobs.enqueue_turn, response_row, rows, job_row)
        self._queued_here = True

    async def count_queued_jobs(self, tenant: str | None = None) -> int:
        return await self._db.read(jobs.count_queued, tenant)

    async def take_jobs(
        self, owner: str, *, now: float, lease_until: float, limit: int
    ) -> list[Job]:
        if not self._queued_here and not await self._db.read(jobs.any_free):
            return []
        self._queued_here = False
        # A taken job always ends here in a durable write (its end, or its requeue at
        # shutdown); a take lost with the disk's cache leaves the job queued, as before it.
        take = self._db.write_provisional
        return await take(jobs.take_jobs, self._codec, owner, now, lease_until, limit)

    async def requeue_job(self, response_id: str, error: dict[str, Any]) -> bool:
        return await self._db.write(jobs.requeue_job, response_id, dumps(error))

    async def requeue_abandoned_jobs(self, now: float, error: dict[str, Any]) -> int:
        return await self._db.write(jobs.requeue_abandoned, now, dumps(error))

    async def note_job_side_effect(self, response_id: str) -> None:
        await self._db.write(jobs.note_side_effect, response_id)

    async def cancel_job(self, tenant: str, response_id: str) -> CancelOutcome:
        return await self._db.write(jobs.cancel_job, self._codec, tenant, response_id)

    async def cancel_requested_jobs(self, owner: str) -> list[str]:
        return await self._db.read(jobs.cancel_requested, owner)

    async def append_response_events(self, response_id: str, events: list[Item]) -> None:
        rows = [
            {
                "response_id": response_id,
                "sequence_number": e["sequence_number"],
                "data": self._codec.dump(e),
            }
            for e in events
        ]
        if rows:
            await self._db.write(jobs.append_events, rows)

    async def response_events(
        self, tenant: str, response_id: str, *, after: int, limit: int
    ) -> list[Item] | None:
        return await self._db.read(jobs.read_events, self._codec, tenant, response_id, after, limit)

    async def scan_responses(
        self,
        tenant: str,
        *,
        after: str | None,
        limit: int,
        created_before: float | None = None,
    ) -> list[ResponseRecord]:
        return await self._db.read(
            responses.scan_responses, self._codec, tenant, after, limit, created_before
        )

    async def delete_response(self, tenant: str, response_id: str) -> bool:
        return await self._db.write(responses.delete_response, tenant, response_id)

    async def list_responses(
        self, tenant: str, flt: ResponseFilter, *, after: str | None, limit: int
    ) -> ResponsePage:
        return await self._db.read(
            response_listing.list_responses, self._codec, tenant, flt, after, limit
        )

    async def list_input_items(
        self, tenant: str, response_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage | None:
        return await self._db.read(
            responses.list_input_items,
            self._codec,
            tenant,
            response_id,
            after=after,
            limit=limit,
            order=order,
        )

    async def load_chain(self, tenant: str, response_id: str) -> list[Item] | None:
        if not self._contexts.enabled:
            return await self._db.read(responses.load_chain, self._codec, tenant, response_id)
        return await self._contexts.load_chain(tenant, response_id)

    async def get_items(self, tenant: str, item_ids: list[str]) -> dict[str, Item]:
        if not item_ids:
            return {}
        wanted = list(dict.fromkeys(item_ids))
        return await self._db.read(responses.get_items, self._codec, tenant, wanted)

    async def delete_responses_created_before(
        self, cutoff: float, scope: TenantScope = EVERY_TENANT
    ) -> int:
        total = 0
        while True:
            deleted = await self._db.write(
                responses.delete_responses_batch, cutoff, scope, SWEEP_BATCH
            )
            if deleted is None:
                return total
            total += deleted

    # -- stored chat completions --------------------------------------------------------------
    async def save_completion(self, completion: StoredCompletion) -> None:
        values = completions.completion_values(completion, self._codec)
        await self._db.write(completions.save_completion, values)

    async def get_completion(self, tenant: str, completion_id: str) -> StoredCompletion | None:
        return await self._db.read(completions.get_completion, self._codec, tenant, completion_id)

    async def list_completions(
        self, tenant: str, flt: CompletionFilter, *, after: str | None, limit: int, order: Order
    ) -> CompletionPage:
        return await self._db.read(
            completions.list_completions,
            self._codec,
            tenant,
            flt,
            after=after,
            limit=limit,
            order=order,
        )

    async def update_completion_metadata(
        self, tenant: str, completion_id: str, metadata: dict[str, str]
    ) -> StoredCompletion | None:
        return await self._db.write(
            completions.update_metadata, self._codec, tenant, completion_id, metadata
        )

    async def delete_completion(self, tenant: str, completion_id: str) -> bool:
        return await self._db.write(completions.delete_completion, tenant, completion_id)

    async def delete_completions_created_before(
        self, cutoff: float, scope: TenantScope = EVERY_TENANT
    ) -> int:
        total = 0
        while True:
            deleted = await self._db.write(
                completions.delete_completions_batch, cutoff, scope, SWEEP_BATCH
            )
            if deleted is None:
                return total
            total += deleted

    # -- change feed --------------------------------------------------------------------------
    async def read_changes(
        self, tenant: str, *, after: ChangePosition, since: float | None, limit: int
    ) -> ChangePage:
        return await self._db.read(changes.read_changes, self._codec, tenant, after, since, limit)

    async def forget_tombstones(self, before: float) -> int:
        return await self._db.write(changes.forget_tombstones, before)

    # -- webhooks -----------------------------------------------------------------------------
    async def create_webhook_endpoint(self, endpoint: WebhookEndpointRecord) -> None:
        await self._db.write(webhooks.create_endpoint, webhooks.endpoint_values(endpoint))

    async def get_webhook_endpoint(
        self, tenant: str, endpoint_id: str
    ) -> WebhookEndpointRecord | None:
        return await self._db.read(webhooks.get_endpoint, tenant, endpoint_id)

    async def list_webhook_endpoints(self, tenant: str | None) -> list[WebhookEndpointRecord]:
        return await self._db.read(webhooks.list_endpoints, tenant)

    async def update_webhook_endpoint(self, endpoint: WebhookEndpointRecord) -> bool:
        return await self._db.write(webhooks.update_endpoint, webhooks.endpoint_values(endpoint))

    async def delete_webhook_endpoint(self, tenant: str, endpoint_id: str) -> bool:
        return await self._db.write(webhooks.delete_endpoint, tenant, endpoint_id)

    async def take_webhook_deliveries(
        self, owner: str, *, now: float, lease_until: float, limit: int
    ) -> list[DueDelivery]:
        if not await self._db.read(webhooks.any_due, now):
            return []
        return await self._db.write(webhooks.take_deliveries, owner, now, lease_until, limit)

    async def record_webhook_attempt(self, delivery: WebhookDelivery) -> None:
        await self._db.write(webhooks.record_attempt, delivery)

    async def list_webhook_deliveries(
        self, tenant: str | None, *, limit: int
    ) -> list[WebhookDelivery]:
        return await self._db.read(webhooks.list_deliveries, tenant, limit)

    async def redeliver_webhook(self, tenant: str | None, delivery_id: str, now: float) -> bool:
        return await self._db.write(webhooks.redeliver, tenant, delivery_id, now)

    # -- conversations ------------------------------------------------------------------------
    async def create_conversation(
        self, conversation: ConversationRecord, items: list[Item]
    ) -> None:
        c = conversation
        rows = [
            item_row(
                self._codec,
                c.tenant,
                c.created_at,
                item,
                conversation_id=c.id,
                conversation_position=i,
            )
            for i, item in enumerate(items)
        ]
        values = conversations.conversation_values(c, next_position=len(rows))
        await self._db.write(conversations.create_conversation, values, rows)

    async def get_conversation(
        self, tenant: str, conversation_id: str
    ) -> ConversationRecord | None:
        return await self._db.read(conversations.get_conversation, tenant, conversation_id)

    async def update_conversation(
        self,
        tenant: str,
        conversation_id: str,
        *,
        metadata: dict[str, str] | None = None,
        status: ConversationStatus | None = None,
        status_changed_at: float | None = None,
    ) -> ConversationRecord | None:
        values: dict[str, Any] = {}
        if metadata is not None:
            values["metadata"] = dumps(metadata)
        if status is not None:
            values["status"] = status
        if status_changed_at is not None:
            values["status_changed_at"] = status_changed_at
        if not values:
            return await self.get_conversation(tenant, conversation_id)
        return await self._db.write(
            conversations.update_conversation, tenant, conversation_id, values
        )

    async def delete_conversation(self, tenant: str, conversation_id: str) -> bool:
        return await self._db.write(conversations.delete_conversation, tenant, conversation_id)

    async def list_conversations(
        self, tenant: str, flt: ConversationFilter, *, after: str | None, limit: int
    ) -> ConversationPage:
        return await self._db.read(
            conversations.list_conversations, tenant, flt, after=after, limit=limit
        )

    async def append_items(
        self, tenant: str, conversation_id: str, items: list[Item], now: float
    ) -> bool:
        rows = [
            item_row(self._codec, tenant, now, item, conversation_id=conversation_id)
            for item in items
        ]
        return await self._db.write(conversations.append_items, tenant, conversation_id, rows, now)

    async def load_conversation(
        self, tenant: str, conversation_id: str
    ) -> tuple[ConversationRecord, list[Item]] | None:
        if not self._contexts.enabled:
            return await self._db.read(
                conversations.load_conversation, self._codec, tenant, conversation_id
            )
        return await self._contexts.load_conversation(tenant, conversation_id)

    async def claim_conversation(
        self, tenant: str, conversation_id: str, owner: str, *, now: float, lease_until: float
    ) -> ConversationClaim:
        return await self._db.write(
            conversations.claim_conversation, tenant, conversation_id, owner, now, lease_until
        )

    async def renew_conversation_claim(
        self, tenant: str, conversation_id: str, owner: str, lease_until: float
    ) -> bool:
        return await self._db.write(
            conversations.renew_conversation_claim, tenant, conversation_id, owner, lease_until
        )

    async def release_conversation(self, tenant: str, conversation_id: str, owner: str) -> None:
        await self._db.write(conversations.release_conversation, tenant, conversation_id, owner)

    async def list_conversation_items(
        self, tenant: str, conversation_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage | None:
        return await self._db.read(
            conversations.list_conversation_items,
            self._codec,
            tenant,
            conversation_id,
            after=after,
            limit=limit,
            order=order,
        )

    async def get_conversation_item(
        self, tenant: str, conversation_id: str, item_id: str
    ) -> Item | None:
        return await self._db.read(
            conversations.get_conversation_item, self._codec, tenant, conversation_id, item_id
        )

    async def delete_conversation_item(
        self, tenant: str, conversation_id: str, item_id: str
    ) -> bool:
        return await self._db.write(
            conversations.delete_conversation_item, tenant, conversation_id, item_id
        )

    async def expire_idle_conversations(self, idle_before: float, now: float) -> int:
        return await self._db.write(conversations.expire_idle_conversations, idle_before, now)

    # -- API keys -----------------------------------------------------------------------------
    async def create_api_key(self, key: ApiKeyRecord) -> None:
        await self._db.write(api_keys.create_api_key, key)

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        return await self._db.read(api_keys.find_api_key, key_hash)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        return await self._db.read(api_keys.list_api_keys)

    async def revoke_api_key(self, key_id_or_name: str, now: float) -> bool:
        return await self._db.write(api_keys.revoke_api_key, key_id_or_name, now)

    async def set_api_key_limits(self, key_id_or_name: str, limits: KeyLimits) -> bool:
        return await self._db.write(api_keys.set_api_key_limits, key_id_or_name, limits)

    async def has_api_keys(self) -> bool:
        return await self._db.read(api_keys.has_api_keys)

    async def tenant_has_data(self, tenant: str) -> bool:
        return await self._db.read(api_keys.tenant_has_data, tenant)

    async def forget_revoked_api_keys(self) -> int:
        return await self._db.write(api_keys.forget_revoked_api_keys)

    def _input_rows(self, record: ResponseRecord, items: list[Item]) -> list[dict[str, Any]]:
        """The rows of a starting response's input items."""
        return [
            item_row(
                self._codec,
                record.tenant,
                record.created_at,
                item,
                response_id=record.id,
                kind="input",
                position=i,
            )
            for i, item in enumerate(items)
        ]


def _ping(conn: Connection) -> None:
    conn.execute(q.PING)
