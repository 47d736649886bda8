"""The storage contract: what Threadline keeps, and what each backend promises about it.

What is stored
- A *response* row is provenance only: model, settings echoed from the request, status,
  usage, error, timings, `previous_response_id`, `conversation_id`. It never holds content.
- An *item* is one OpenAI item (`message`, `function_call`, `function_call_output`, …) as a JSON
  object in OpenAI's wire form, with its `id`. Every item is written exactly once: a response
  owns the input items it was sent and the output items it produced, at positions 0..n in that
  order (inputs first). Continuing a chain or a conversation never copies earlier items.
- A *conversation* is an ordered list of items. A turn run with `conversation` writes its input
  and output items once, owned by the response and placed in the conversation at the same time.
  Items added through the items endpoint belong to the conversation only.
- An *API key* maps the SHA-256 hash of a secret to a tenant. The secret itself is never stored.
  A revoked key stays on record: while any key is on record, live or revoked, every request
  needs a live key. Only `forget_revoked_api_keys` (the operator's `threadline keys open`)
  clears the record and opens the server again. A key's limits (expiry, models, rates,
  budgets) and its usage are kept as storage/usage.py describes.

What each backend guarantees
- Every read and write is scoped to a tenant. Another tenant's object is indistinguishable from
  an object that does not exist (methods return None / False, never raise).
- A turn is written twice. `start_turn` writes the response (`in_progress`) and its input items
  when the turn starts, atomically, so a running turn can be read and a crash never loses the
  caller's input; it is leased to the process that runs it (`owner`, `lease_until`), which
  renews the leases of all its running turns at once (`renew_turns`). `save_turn` ends it: the
  response row, its output items and the conversation append land together or not at all. A
  turn left `in_progress` past its lease (its process died) is ended `failed` by
  `fail_abandoned_turns`, whichever process runs it.
- `save_turn` of a turn that was never started (`started=False`) writes it whole, atomically.
  The response row, its items and the conversation append land together
  or not at all. Concurrent turns on one conversation keep every item; each turn's items stay
  contiguous, in the order the turns were saved. Backends use the database's own guarantees
  (transactions, row locks), never an in-process lock, because replicas share nothing else.
- A conversation runs one turn at a time. A turn *claims* the conversation before it reads the
  conversation's items (`claim_conversation`), so it sees every turn before it; the claim is a
  lease (`lease_until`) that the running turn renews, so a crashed process cannot hold a
  conversation for longer than one lease. `save_turn` releases the claim of `response.id` in its
  own transaction; a turn that ends without saving releases it with `release_conversation`.
- A turn whose conversation was deleted while it ran is not saved: the delete wins, and
  `save_turn` raises `ConversationDeleted` having written nothing.
- A *background* turn is a job in the store (`enqueue_turn`): its response is written `queued`
  with its input items, and the job keeps the create request until the turn ends. Any process
  may take jobs (`take_jobs`); each job is taken by exactly one, oldest first, and a job of a
  conversation is not taken while an earlier job of that conversation is queued or running.
  A taken job's response is `in_progress`, leased like any running turn; `save_turn` of it
  (`background=True`) ends the job in the same transaction. A job whose process gave it up
  (`requeue_job`) or died (`requeue_abandoned_jobs`) is queued again, unless a step with side
  effects ran (`note_job_side_effect`): then it ends `failed`. `cancel_job` ends a queued job
  `cancelled` at once and asks the process running a taken one to stop
  (`cancel_requested_jobs`). Deleting the response deletes its job.
- The events of a streamed background turn are kept (`append_response_events`) so its stream
  can be resumed (`response_events`) from any process; they go with the response.
- A *webhook endpoint* belongs to a tenant and names the events it receives; its signing
  secret is stored as the engine gives it (sealed). When a background turn ends (`save_turn`
  with `background=True`, `cancel_job` of a queued one, a job failed by `requeue_job`), a
  *delivery* of `response.<status>` is written for each of the tenant's endpoints that asked
  for it, in the same transaction: the outbox. Deliveries are taken like jobs (one process
  each, leased) until one succeeds or the sender gives up (`record_webhook_attempt`).
- A *stored chat completion* (`store: true` on Chat Completions) is one record: the completion
  as it was returned, the request's messages as they were sent, and its metadata (the only
  part that changes). Lists are ordered by `created_at`, then id.
- `load_chain` and `load_conversation` are one round trip to the database whatever the length
  of the history, and cost grows only with the items returned.
- Item pages are ordered by position; `after` is an item id within the same list.
- Every change to a response, a conversation, a conversation's items or a stored completion is
  entered in the tenant's change feed in the same transaction (storage/changes.py).

The chain of a response R is R, R.previous_response_id, its previous, … The context for a turn
that continues R is the items of every response in the chain, oldest response first, each
response's items in position order. If the oldest response of the chain was a conversation
turn, the conversation items that precede that response's first item come before everything.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from threadline.storage.changes import ChangeFeed
from threadline.storage.operator_records import OperatorRecords
from threadline.storage.usage import NO_LIMITS, KeyLimits, UsageLedger
from threadline.storage.vector_stores import VectorStores
from threadline.storage.webhook_records import (
    DueDelivery,
    WebhookDelivery,
    WebhookEndpointRecord,
)

Item = dict[str, Any]
"""One OpenAI item as a JSON object in wire form; always carries `id` and `type`."""

Order = Literal["asc", "desc"]
ConversationClaim = Literal["claimed", "locked", "missing"]
"""What `claim_conversation` found: the claim is the caller's, another turn holds it, or there
is no such conversation for the tenant."""
ConversationStatus = Literal["active", "closed", "expired"]


@dataclass(slots=True)
class ResponseRecord:
    """A stored response, without its items (see `StoredResponse`)."""

    id: str
    tenant: str
    created_at: float
    status: str
    model: str
    settings: dict[str, Any]
    """The request settings the Response object echoes (instructions, tools, text, metadata…)."""
    previous_response_id: str | None = None
    conversation_id: str | None = None
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    incomplete_details: dict[str, Any] | None = None
    completed_at: float | None = None


@dataclass(slots=True)
class StoredResponse:
    record: ResponseRecord
    output: list[Item]


@dataclass(slots=True)
class TurnStart:
    """What `start_turn` writes when a turn starts: the `in_progress` response and its input
    items, leased to the process `owner` until `lease_until`."""

    response: ResponseRecord
    input_items: list[Item]
    owner: str
    lease_until: float


@dataclass(slots=True)
class TurnRecord:
    """Everything one turn writes, saved by one atomic `save_turn`."""

    response: ResponseRecord
    input_items: list[Item]
    output_items: list[Item]
    append_to_conversation: bool = False
    """When true (and `response.conversation_id` is set), input then output items are appended
    to the conversation, contiguously, and the conversation's `last_active_at` is updated."""
    background: bool = False
    """True for the turn of a background job: saving it ends the job."""
    started: bool = False
    """True when `start_turn` already wrote the response and its input items: `save_turn` then
    updates the response and writes only the output (raising `ResponseDeleted` if the response
    was deleted meanwhile)."""


@dataclass(slots=True)
class QueuedTurn:
    """What `enqueue_turn` writes for a background turn: the `queued` response, its input
    items, and the create request its job runs."""

    response: ResponseRecord
    input_items: list[Item]
    request: dict[str, Any]
    """The create request as the job will run it. It holds the credentials of the turn's
    tools (MCP authorization), so it is kept only until the job ends."""


@dataclass(slots=True)
class Job:
    """A background turn taken to run: its response (now `in_progress`), its request, and
    its input items as stored (read with the take: the turn needs them at once)."""

    response: ResponseRecord
    request: dict[str, Any]
    inputs: list[Item]


CancelOutcome = Literal["cancelled", "requested", "ended", "not_background", "missing"]
"""What `cancel_job` did: ended a queued job `cancelled`; asked the process running it to
stop; nothing, because the response had already ended or was not a background one; or there
is no such response for the tenant."""


@dataclass(slots=True)
class ConversationRecord:
    id: str
    tenant: str
    created_at: float
    metadata: dict[str, str] = field(default_factory=dict)
    status: ConversationStatus = "active"
    last_active_at: float = 0.0
    status_changed_at: float | None = None


@dataclass(slots=True)
class ConversationFilter:
    """Filters for listing a tenant's conversations. Every field narrows; None means any."""

    metadata: Mapping[str, str] = field(default_factory=dict)
    status: ConversationStatus | None = None
    created_after: float | None = None
    created_before: float | None = None
    active_after: float | None = None
    active_before: float | None = None


@dataclass(slots=True)
class ConversationPage:
    conversations: list[ConversationRecord]
    has_more: bool


@dataclass(slots=True)
class ItemPage:
    items: list[Item]
    has_more: bool


@dataclass(slots=True)
class StoredCompletion:
    id: str
    tenant: str
    created_at: float
    model: str
    """As the client named it."""
    metadata: dict[str, str]
    completion: dict[str, Any]
    """The `chat.completion` object as it was returned (its `metadata` aside)."""
    messages: list[dict[str, Any]]
    """The request's messages, as they were sent."""


@dataclass(slots=True)
class CompletionFilter:
    """Filters for listing a tenant's stored chat completions; None (or empty) means any."""

    model: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class CompletionPage:
    completions: list[StoredCompletion]
    has_more: bool


@dataclass(frozen=True, slots=True)
class TenantScope:
    """Which tenants a retention sweep reaches: `only` one, or every tenant but `excluding`."""

    only: str | None = None
    excluding: frozenset[str] = frozenset()

    def includes(self, tenant: str) -> bool:
        if self.only is not None:
            return tenant == self.only
        return tenant not in self.excluding


EVERY_TENANT = TenantScope()


@dataclass(slots=True)
class ApiKeyRecord:
    id: str
    tenant: str
    name: str
    key_hash: str
    created_at: float
    revoked_at: float | None = None
    default_store: bool | None = None
    """What an omitted `store` means for this key's requests; None: its tenant's default."""
    limits: KeyLimits = NO_LIMITS


class Store(ChangeFeed, VectorStores, UsageLedger, OperatorRecords, abc.ABC):
    """Persistence for responses, items, conversations and API keys. See the module docstring."""

    writes_in_order: bool = False
    """True when writes are applied in the order they were submitted (one writer), so a turn's
    `save_turn` may be submitted before its `start_turn` has committed."""

    # -- lifecycle ----------------------------------------------------------------------------
    @abc.abstractmethod
    async def migrate(self) -> None:
        """Bring the schema to the newest version (idempotent; safe to run at every start)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise if the database cannot be reached."""

    # -- responses ----------------------------------------------------------------------------
    @abc.abstractmethod
    async def save_turn(self, turn: TurnRecord) -> None:
        """Write a finished turn atomically. Positions of items are their list order. A turn
        of a conversation releases the conversation's claim held by `response.id`, and raises
        `ConversationDeleted` (writing nothing) if the conversation no longer exists."""

    @abc.abstractmethod
    async def start_turn(self, start: TurnStart) -> None:
        """Write a starting turn's `in_progress` response and input items, atomically. For a
        conversation turn, the response notes where the conversation stands (it is not
        appended to until `save_turn`)."""

    @abc.abstractmethod
    async def renew_turns(self, owner: str, lease_until: float) -> int:
        """Extend the lease of every `in_progress` response `owner` runs; how many."""

    @abc.abstractmethod
    async def fail_abandoned_turns(self, now: float, error: dict[str, Any]) -> int:
        """End as `failed`, with `error`, every `in_progress` response whose lease lapsed
        before `now` (all tenants); how many. Their input items are kept."""

    @abc.abstractmethod
    async def get_response(self, tenant: str, response_id: str) -> StoredResponse | None: ...

    # -- background jobs ----------------------------------------------------------------------
    @abc.abstractmethod
    async def enqueue_turn(self, turn: QueuedTurn) -> None:
        """Write a background turn's `queued` response, its input items and its job,
        atomically."""

    @abc.abstractmethod
    async def count_queued_jobs(self, tenant: str | None = None) -> int:
        """How many jobs of `tenant` wait to be taken (of every tenant when None)."""

    @abc.abstractmethod
    async def take_jobs(
        self, owner: str, *, now: float, lease_until: float, limit: int
    ) -> list[Job]:
        """Take up to `limit` queued jobs for the process `owner`, oldest first, skipping a
        conversation's job while an earlier job of it is queued or running: their responses
        become `in_progress`, leased to `owner` until `lease_until`. A job is taken by one
        process only, however many take at once."""

    @abc.abstractmethod
    async def requeue_job(self, response_id: str, error: dict[str, Any]) -> bool:
        """Give back a taken job whose turn did not end: queued again (True), or, if a step
        with side effects ran, ended `failed` with `error` (False). Its kept events go."""

    @abc.abstractmethod
    async def requeue_abandoned_jobs(self, now: float, error: dict[str, Any]) -> int:
        """`requeue_job` for every taken job whose lease lapsed before `now`; how many."""

    @abc.abstractmethod
    async def note_job_side_effect(self, response_id: str) -> None:
        """Record that the job's turn ran a step with side effects: it is not run again."""

    @abc.abstractmethod
    async def cancel_job(self, tenant: str, response_id: str) -> CancelOutcome:
        """Cancel the tenant's background response (see `CancelOutcome`)."""

    @abc.abstractmethod
    async def cancel_requested_jobs(self, owner: str) -> list[str]:
        """The ids of the jobs `owner` runs whose cancellation was asked for."""

    @abc.abstractmethod
    async def append_response_events(self, response_id: str, events: list[Item]) -> None:
        """Keep stream events of a background turn (each has its `sequence_number`)."""

    @abc.abstractmethod
    async def response_events(
        self, tenant: str, response_id: str, *, after: int, limit: int
    ) -> list[Item] | None:
        """Kept events with `sequence_number` > `after`, in order, at most `limit`; None if
        the tenant has no such response."""

    @abc.abstractmethod
    async def scan_responses(
        self,
        tenant: str,
        *,
        after: str | None,
        limit: int,
        created_before: float | None = None,
    ) -> list[ResponseRecord]:
        """The tenant's responses (no items) in id order after `after` (and created before
        `created_before`): for whole-tenant passes (erasure, a sweep around legal holds)."""

    @abc.abstractmethod
    async def delete_response(self, tenant: str, response_id: str) -> bool:
        """Delete a response and the items it owns that are not part of a conversation
        (conversation items stay, the conversation is the user's record). False if absent."""

    @abc.abstractmethod
    async def list_input_items(
        self, tenant: str, response_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage | None:
        """A page of the response's input items; None if the response does not exist."""

    @abc.abstractmethod
    async def load_chain(self, tenant: str, response_id: str) -> list[Item] | None:
        """The context that continuing `response_id` starts from (module docstring), in one
        round trip. None if the response does not exist for this tenant; raises
        `PreviousResponseInProgress` if it is still `in_progress`."""

    @abc.abstractmethod
    async def get_items(self, tenant: str, item_ids: list[str]) -> dict[str, Item]:
        """Stored items by id (for `item_reference`); ids not found are absent from the map."""

    # -- webhooks -----------------------------------------------------------------------------
    @abc.abstractmethod
    async def create_webhook_endpoint(self, endpoint: WebhookEndpointRecord) -> None: ...

    @abc.abstractmethod
    async def get_webhook_endpoint(
        self, tenant: str, endpoint_id: str
    ) -> WebhookEndpointRecord | None: ...

    @abc.abstractmethod
    async def list_webhook_endpoints(self, tenant: str | None) -> list[WebhookEndpointRecord]:
        """The tenant's endpoints (every tenant's when None), oldest first."""

    @abc.abstractmethod
    async def update_webhook_endpoint(self, endpoint: WebhookEndpointRecord) -> bool:
        """Replace the stored endpoint of that tenant and id; False if absent."""

    @abc.abstractmethod
    async def delete_webhook_endpoint(self, tenant: str, endpoint_id: str) -> bool:
        """Delete the endpoint and its deliveries."""

    @abc.abstractmethod
    async def take_webhook_deliveries(
        self, owner: str, *, now: float, lease_until: float, limit: int
    ) -> list[DueDelivery]:
        """Take up to `limit` pending deliveries due by `now` (and not leased to a live
        sender), oldest first, for `owner` until `lease_until`."""

    @abc.abstractmethod
    async def record_webhook_attempt(self, delivery: WebhookDelivery) -> None:
        """Store how an attempt went (status, attempts, next attempt, last status code and
        error, delivered_at) and release the delivery."""

    @abc.abstractmethod
    async def list_webhook_deliveries(
        self, tenant: str | None, *, limit: int
    ) -> list[WebhookDelivery]:
        """The newest deliveries of the tenant (of every tenant when None), newest first."""

    @abc.abstractmethod
    async def redeliver_webhook(self, tenant: str | None, delivery_id: str, now: float) -> bool:
        """Send a delivery again: pending, due `now`, whatever its state. False if absent."""

    # -- conversations ------------------------------------------------------------------------
    @abc.abstractmethod
    async def create_conversation(
        self, conversation: ConversationRecord, items: list[Item]
    ) -> None:
        """Create a conversation with its first items, atomically."""

    @abc.abstractmethod
    async def get_conversation(
        self, tenant: str, conversation_id: str
    ) -> ConversationRecord | None: ...

    @abc.abstractmethod
    async def update_conversation(
        self,
        tenant: str,
        conversation_id: str,
        *,
        metadata: dict[str, str] | None = None,
        status: ConversationStatus | None = None,
        status_changed_at: float | None = None,
    ) -> ConversationRecord | None:
        """Change metadata and/or status; None if absent. Returns the updated record."""

    @abc.abstractmethod
    async def delete_conversation(self, tenant: str, conversation_id: str) -> bool:
        """Delete the conversation, its items and the responses of its turns."""

    @abc.abstractmethod
    async def list_conversations(
        self, tenant: str, flt: ConversationFilter, *, after: str | None, limit: int
    ) -> ConversationPage:
        """The tenant's conversations, most recent `last_active_at` first (ties: newest id
        first); `after` is a conversation id from a previous page."""

    @abc.abstractmethod
    async def append_items(
        self, tenant: str, conversation_id: str, items: list[Item], now: float
    ) -> bool:
        """Append items at the end of the conversation atomically and set `last_active_at`.
        False if the conversation does not exist."""

    @abc.abstractmethod
    async def load_conversation(
        self, tenant: str, conversation_id: str
    ) -> tuple[ConversationRecord, list[Item]] | None:
        """The conversation and all its items in order, in one round trip; None if absent."""

    @abc.abstractmethod
    async def claim_conversation(
        self, tenant: str, conversation_id: str, owner: str, *, now: float, lease_until: float
    ) -> ConversationClaim:
        """Claim the conversation for the turn `owner` (a response id) until `lease_until`,
        unless another owner holds a claim that has not expired by `now`."""

    @abc.abstractmethod
    async def renew_conversation_claim(
        self, tenant: str, conversation_id: str, owner: str, lease_until: float
    ) -> bool:
        """Extend `owner`'s claim; False if it no longer holds one."""

    @abc.abstractmethod
    async def release_conversation(self, tenant: str, conversation_id: str, owner: str) -> None:
        """Drop `owner`'s claim, if it still holds one."""

    @abc.abstractmethod
    async def list_conversation_items(
        self, tenant: str, conversation_id: str, *, after: str | None, limit: int, order: Order
    ) -> ItemPage | None: ...

    @abc.abstractmethod
    async def get_conversation_item(
        self, tenant: str, conversation_id: str, item_id: str
    ) -> Item | None: ...

    @abc.abstractmethod
    async def delete_conversation_item(
        self, tenant: str, conversation_id: str, item_id: str
    ) -> bool: ...

    # -- retention ----------------------------------------------------------------------------
    @abc.abstractmethod
    async def expire_idle_conversations(self, idle_before: float, now: float) -> int:
        """Mark active conversations whose `last_active_at` < idle_before as expired (all
        tenants). Returns how many."""

    @abc.abstractmethod
    async def delete_responses_created_before(
        self, cutoff: float, scope: TenantScope = EVERY_TENANT
    ) -> int:
        """Delete responses created before `cutoff` (of the tenants in `scope`) with the items
        they own, keeping items that belong to a conversation. Returns how many responses."""

    # -- stored chat completions --------------------------------------------------------------
    @abc.abstractmethod
    async def save_completion(self, completion: StoredCompletion) -> None: ...

    @abc.abstractmethod
    async def get_completion(self, tenant: str, completion_id: str) -> StoredCompletion | None: ...

    @abc.abstractmethod
    async def list_completions(
        self, tenant: str, flt: CompletionFilter, *, after: str | None, limit: int, order: Order
    ) -> CompletionPage:
        """The tenant's stored completions by `created_at`, then id, in `order`; `after` is a
        completion id from a previous page (unknown: `InvalidRequest` naming `after`)."""

    @abc.abstractmethod
    async def update_completion_metadata(
        self, tenant: str, completion_id: str, metadata: dict[str, str]
    ) -> StoredCompletion | None:
        """Replace the metadata; the updated record, or None if absent."""

    @abc.abstractmethod
    async def delete_completion(self, tenant: str, completion_id: str) -> bool: ...

    @abc.abstractmethod
    async def delete_completions_created_before(
        self, cutoff: float, scope: TenantScope = EVERY_TENANT
    ) -> int:
        """Delete stored completions created before `cutoff` (of the tenants in `scope`); how
        many."""

    # -- API keys -----------------------------------------------------------------------------
    @abc.abstractmethod
    async def create_api_key(self, key: ApiKeyRecord) -> None: ...

    @abc.abstractmethod
    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """The key with this hash, unless revoked."""

    @abc.abstractmethod
    async def list_api_keys(self) -> list[ApiKeyRecord]: ...

    @abc.abstractmethod
    async def revoke_api_key(self, key_id_or_name: str, now: float) -> bool: ...

    @abc.abstractmethod
    async def set_api_key_limits(self, key_id_or_name: str, limits: KeyLimits) -> bool:
        """Replace a live key's limits; False when no live key has that id or name."""

    @abc.abstractmethod
    async def has_api_keys(self) -> bool:
        """True if any key is on record, live or revoked: the server then requires keys, so
        that revoking the last key never opens it."""

    @abc.abstractmethod
    async def tenant_has_data(self, tenant: str) -> bool:
        """True if the tenant owns any response, conversation or stored completion (a first
        key for another tenant would put them out of sight, so `threadline keys create` says
        so)."""

    @abc.abstractmethod
    async def forget_revoked_api_keys(self) -> int:
        """Delete the revoked keys' records (live keys stay). Returns how many."""
