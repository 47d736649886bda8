"""Erasure: what one end user produced in a tenant, deleted (or counted first, as a dry run),
with a receipt.

An end user is named as requests name them: by `safety_identifier`, by `user`, or by the value
of a `metadata` key (the same names the usage ledger keeps). What goes:

- every response whose request named them, with its items; a conversation any of their turns
  ran in goes whole (its items hold their messages; other users' turns in it go with it);
- with a metadata key: the conversations and stored chat completions whose metadata names
  them too (a stored chat completion keeps no `user`, so only its metadata can name one);
- their name in the usage ledger: the rows stay, anonymous, so the totals still add up.

Files and vector-store files carry no end user, so they are not found here (delete them by
id). Legal holds (engine/holds.py) win: a hold on the tenant or on this end user keeps
everything (the receipt says `held`); a held conversation, or a response another hold keeps,
stays, with the conversation it ran in.

The pass runs in batches over the tenant's responses, and deleting is idempotent: an erasure
cut short (a restart, a crash) is finished by running it again; its receipt then counts what
that run found.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from threadline.engine.audit import AuditLog
from threadline.engine.clock import Clock, system_clock
from threadline.engine.end_users import EndUser
from threadline.engine.holds import HoldSet
from threadline.storage.base import CompletionFilter, ConversationFilter, Store

_PAGE = 100


@dataclass(slots=True)
class ErasureReceipt:
    tenant: str
    end_user: dict[str, Any]
    dry_run: bool
    started_at: float
    finished_at: float = 0.0
    responses: int = 0
    """Responses whose request named the end user (those of conversation turns included)."""
    conversations: int = 0
    chat_completions: int = 0
    usage_rows_anonymized: int = 0
    conversation_ids: list[str] = field(default_factory=list)
    held: str | None = None
    """`tenant` or `end_user` when a legal hold kept everything (nothing was deleted)."""
    held_responses: int = 0
    """Responses that named the end user but are under a legal hold, kept."""
    held_conversation_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"object": "erasure.receipt", **asdict(self)}


class Erasure:
    def __init__(self, store: Store, clock: Clock = system_clock, *, batch: int = 500) -> None:
        self._store = store
        self._clock = clock
        self._batch = batch

    async def erase_end_user(
        self, tenant: str, who: EndUser, *, dry_run: bool = False
    ) -> ErasureReceipt:
        receipt = ErasureReceipt(tenant, asdict(who), dry_run, self._clock())
        holds = HoldSet(await self._store.list_holds(tenant))
        if holds.holds_end_user(who):
            receipt.held = "tenant" if holds.tenant else "end_user"
            receipt.finished_at = self._clock()
            return receipt
        named, held = await self._responses(tenant, who, holds, receipt)
        conversations = set(named)
        if who.metadata_key is not None:
            conversations |= await self._conversations_naming(tenant, who)
        kept = conversations & (held | holds.conversations)
        receipt.held_conversation_ids = sorted(kept)
        receipt.conversation_ids = sorted(conversations - kept)
        for conversation_id, turns in named.items():
            if conversation_id in kept:
                receipt.held_responses += turns
            else:
                receipt.responses += turns
        for conversation_id in receipt.conversation_ids:
            if dry_run or await self._store.delete_conversation(tenant, conversation_id):
                receipt.conversations += 1
        if who.metadata_key is not None:
            receipt.chat_completions = await self._completions(tenant, who, holds, dry_run)
        receipt.usage_rows_anonymized = await self._store.anonymize_usage(
            tenant, who.value, dry_run=dry_run
        )
        receipt.finished_at = self._clock()
        return receipt

    async def erase_recorded(
        self, tenant: str, who: EndUser, actor: str, *, dry_run: bool = False
    ) -> ErasureReceipt:
        """`erase_end_user`, then (unless a dry run) its audit event: `end_user.erased`, or
        `end_user.erasure_held` for an attempt a legal hold refused. The event names the end
        user only by a SHA-256 digest: the log must not keep the name it erased."""
        receipt = await self.erase_end_user(tenant, who, dry_run=dry_run)
        if not dry_run:
            counts = {
                "end_user_field": who.field,
                "end_user_sha256": hashlib.sha256(who.value.encode()).hexdigest(),
                "responses": receipt.responses,
                "conversations": receipt.conversations,
                "chat_completions": receipt.chat_completions,
                "usage_rows_anonymized": receipt.usage_rows_anonymized,
                "held": receipt.held,
                "held_responses": receipt.held_responses,
            }
            action = "end_user.erased" if receipt.held is None else "end_user.erasure_held"
            await AuditLog(self._store, self._clock).record(tenant, actor, action, None, **counts)
        return receipt

    async def _responses(
        self, tenant: str, who: EndUser, holds: HoldSet, receipt: ErasureReceipt
    ) -> tuple[dict[str, int], set[str]]:
        """Delete (or count) the responses outside conversations that named `who`. Returns
        how many of their turns ran in each conversation (which goes whole afterwards), and
        the conversations that must stay because a held turn runs in them."""
        named: dict[str, int] = {}
        held: set[str] = set()
        after = None
        while page := await self._store.scan_responses(tenant, after=after, limit=self._batch):
            after = page[-1].id
            for record in page:
                kept = holds.holds_response(record)
                if kept and record.conversation_id is not None:
                    held.add(record.conversation_id)
                if not who.named_in(record.settings):
                    continue
                if record.conversation_id is not None:
                    named[record.conversation_id] = named.get(record.conversation_id, 0) + 1
                elif kept:
                    receipt.held_responses += 1
                else:
                    receipt.responses += 1
                    if not receipt.dry_run:
                        await self._store.delete_response(tenant, record.id)
        return named, held

    async def _conversations_naming(self, tenant: str, who: EndUser) -> set[str]:
        assert who.metadata_key is not None
        flt = ConversationFilter(metadata={who.metadata_key: who.value})
        found: set[str] = set()
        after = None
        while True:
            page = await self._store.list_conversations(tenant, flt, after=after, limit=_PAGE)
            found.update(c.id for c in page.conversations)
            if not page.has_more or not page.conversations:
                return found
            after = page.conversations[-1].id

    async def _completions(self, tenant: str, who: EndUser, holds: HoldSet, dry_run: bool) -> int:
        assert who.metadata_key is not None
        flt = CompletionFilter(metadata={who.metadata_key: who.value})
        count, after = 0, None
        while True:
            page = await self._store.list_completions(
                tenant, flt, after=after, limit=_PAGE, order="asc"
            )
            for completion in page.completions:
                if holds.holds_completion(completion.metadata):
                    after = completion.id  # kept: the next page starts after it
                elif dry_run:
                    count, after = count + 1, completion.id
                elif await self._store.delete_completion(tenant, completion.id):
                    count += 1  # deleted: `after` may not name it
            if not page.has_more or not page.completions:
                return count
