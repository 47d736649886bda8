"""Erasing a whole tenant: everything it stored, deleted (or counted first, as a dry run),
with a receipt and an audit event.

What goes: responses and their items, conversations, stored chat completions, files, vector
stores (their files and chunks with them) and webhook endpoints. What changes: the tenant's
live API keys are revoked first, so nothing new arrives while the pass runs; its usage ledger
rows stay for the totals, without the end users' names. What stays: the audit log (with this
erasure in it) and the legal holds themselves.

Legal holds win, as for an end user's erasure (engine/erasure.py): a hold on the tenant keeps
everything (the receipt says `held`); a held conversation stays with its turns, a response a
hold keeps stays with the conversation it ran in, and a held end user keeps their name in the
ledger.

The pass works in batches and deleting is idempotent: an erasure cut short (a restart, a
crash) is finished by running it again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from threadline.engine.audit import AuditLog
from threadline.engine.clock import Clock, system_clock
from threadline.engine.holds import HoldSet
from threadline.storage.base import CompletionFilter, ConversationFilter, Store
from threadline.storage.files import FileStore
from threadline.storage.usage import UsageQuery

_PAGE = 100


@dataclass(slots=True)
class TenantErasureReceipt:
    tenant: str
    dry_run: bool
    started_at: float
    finished_at: float = 0.0
    api_keys_revoked: int = 0
    responses: int = 0
    """Responses outside conversations (a conversation's turns go with it)."""
    conversations: int = 0
    chat_completions: int = 0
    files: int = 0
    vector_stores: int = 0
    webhook_endpoints: int = 0
    usage_end_users_anonymized: int = 0
    held: str | None = None
    """`tenant` when a hold on the whole tenant kept everything (nothing was deleted)."""
    held_responses: int = 0
    held_conversations: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"object": "tenant_erasure.receipt", **asdict(self)}


class TenantErasure:
    def __init__(self, store: Store, files: FileStore, clock: Clock = system_clock) -> None:
        self._store = store
        self._files = files
        self._clock = clock

    async def erase_tenant(
        self, tenant: str, actor: str, *, dry_run: bool = False
    ) -> TenantErasureReceipt:
        """Erase (or count) the tenant's data; unless a dry run, record `tenant.erased` (or
        `tenant.erasure_held`) in the audit log."""
        receipt = TenantErasureReceipt(tenant, dry_run, self._clock())
        holds = HoldSet(await self._store.list_holds(tenant))
        if holds.tenant:
            receipt.held = "tenant"
        else:
            await self._revoke_keys(tenant, receipt)
            kept = await self._responses(tenant, holds, receipt)
            await self._conversations(tenant, holds.conversations | kept, receipt)
            await self._completions(tenant, holds, receipt)
            await self._vector_stores(tenant, receipt)
            await self._uploaded_files(tenant, receipt)
            await self._webhook_endpoints(tenant, receipt)
            await self._usage_names(tenant, holds, receipt)
        receipt.finished_at = self._clock()
        if not dry_run:
            action = "tenant.erased" if receipt.held is None else "tenant.erasure_held"
            details = {k: v for k, v in asdict(receipt).items() if isinstance(v, int)}
            await AuditLog(self._store, self._clock).record(
                tenant, actor, action, None, held=receipt.held, **details
            )
        return receipt

    async def _revoke_keys(self, tenant: str, receipt: TenantErasureReceipt) -> None:
        for key in await self._store.list_api_keys():
            if key.tenant == tenant and key.revoked_at is None:
                receipt.api_keys_revoked += 1
                if not receipt.dry_run:
                    await self._store.revoke_api_key(key.id, self._clock())

    async def _responses(
        self, tenant: str, holds: HoldSet, receipt: TenantErasureReceipt
    ) -> set[str]:
        """Delete (or count) the responses outside conversations; returns the conversations
        a held turn runs in, which stay."""
        kept: set[str] = set()
        after = None
        while page := await self._store.scan_responses(tenant, after=after, limit=_PAGE):
            after = page[-1].id
            for record in page:
                if holds.holds_response(record):
                    receipt.held_responses += 1
                    if record.conversation_id is not None:
                        kept.add(record.conversation_id)
                elif record.conversation_id is None:
                    receipt.responses += 1
                    if not receipt.dry_run:
                        await self._store.delete_response(tenant, record.id)
        return kept

    async def _conversations(
        self, tenant: str, kept: set[str], receipt: TenantErasureReceipt
    ) -> None:
        # Listed whole before any is deleted: the list's cursor is a conversation id.
        found: list[str] = []
        after = None
        while True:
            page = await self._store.list_conversations(
                tenant, ConversationFilter(), after=after, limit=_PAGE
            )
            found += [c.id for c in page.conversations]
            if not page.has_more or not page.conversations:
                break
            after = page.conversations[-1].id
        for conversation_id in found:
            if conversation_id in kept:
                receipt.held_conversations += 1
            elif receipt.dry_run or await self._store.delete_conversation(tenant, conversation_id):
                receipt.conversations += 1

    async def _completions(
        self, tenant: str, holds: HoldSet, receipt: TenantErasureReceipt
    ) -> None:
        doomed: list[str] = []
        after = None
        while True:
            page = await self._store.list_completions(
                tenant, CompletionFilter(), after=after, limit=_PAGE, order="asc"
            )
            doomed += [c.id for c in page.completions if not holds.holds_completion(c.metadata)]
            if not page.has_more or not page.completions:
                break
            after = page.completions[-1].id
        for completion_id in doomed:
            if receipt.dry_run or await self._store.delete_completion(tenant, completion_id):
                receipt.chat_completions += 1

    async def _vector_stores(self, tenant: str, receipt: TenantErasureReceipt) -> None:
        doomed: list[str] = []
        after = None
        while True:
            page = await self._store.list_vector_stores(
                tenant, after=after, before=None, limit=_PAGE, order="asc"
            )
            doomed += [view.record.id for view in page.stores]
            if not page.has_more or not page.stores:
                break
            after = page.stores[-1].record.id
        for store_id in doomed:
            if receipt.dry_run or await self._store.delete_vector_store(tenant, store_id):
                receipt.vector_stores += 1

    async def _uploaded_files(self, tenant: str, receipt: TenantErasureReceipt) -> None:
        doomed: list[str] = []
        after = None
        while True:
            page = await self._files.list_files(
                tenant, self._clock(), purpose=None, after=after, limit=_PAGE, order="asc"
            )
            doomed += [f.id for f in page.files]
            if not page.has_more or not page.files:
                break
            after = page.files[-1].id
        for file_id in doomed:
            if receipt.dry_run or await self._files.delete(tenant, file_id):
                receipt.files += 1

    async def _webhook_endpoints(self, tenant: str, receipt: TenantErasureReceipt) -> None:
        for endpoint in await self._store.list_webhook_endpoints(tenant):
            if receipt.dry_run or await self._store.delete_webhook_endpoint(tenant, endpoint.id):
                receipt.webhook_endpoints += 1

    async def _usage_names(
        self, tenant: str, holds: HoldSet, receipt: TenantErasureReceipt
    ) -> None:
        query = UsageQuery(0.0, self._clock() + 1, tenant, None, ("end_user",))
        held = {who.value for who in holds.end_users}
        for totals in await self._store.summarize_usage(query):
            name = totals.group.get("end_user")
            if name and name not in held:
                await self._store.anonymize_usage(tenant, name, dry_run=receipt.dry_run)
                receipt.usage_end_users_anonymized += 1
