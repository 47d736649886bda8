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
id). The pass runs in batches over the tenant's responses, and deleting is idempotent: an
erasure cut short (a restart, a crash) is finished by running it again; its receipt then
counts what that run found.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from threadline.engine.clock import Clock, system_clock
from threadline.errors import InvalidRequest
from threadline.storage.base import CompletionFilter, ConversationFilter, Store

EndUserField = Literal["user", "safety_identifier", "metadata"]
_PAGE = 100


@dataclass(frozen=True, slots=True)
class EndUser:
    field: EndUserField
    value: str
    metadata_key: str | None = None

    def __post_init__(self) -> None:
        if not self.value:
            raise InvalidRequest("An end user to erase needs a non-empty value.")
        if (self.field == "metadata") != (self.metadata_key is not None):
            raise InvalidRequest(
                "A metadata key names the end user exactly when field is metadata."
            )

    def named_in(self, settings: Mapping[str, Any]) -> bool:
        """Whether a request with these settings (a response's) named this end user."""
        if self.field == "metadata":
            metadata = settings.get("metadata") or {}
            return isinstance(metadata, dict) and metadata.get(self.metadata_key) == self.value
        return settings.get(self.field) == self.value


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
        conversations = await self._responses(tenant, who, receipt)
        if who.metadata_key is not None:
            conversations |= await self._conversations_naming(tenant, who)
        receipt.conversation_ids = sorted(conversations)
        for conversation_id in receipt.conversation_ids:
            if dry_run or await self._store.delete_conversation(tenant, conversation_id):
                receipt.conversations += 1
        if who.metadata_key is not None:
            receipt.chat_completions = await self._completions(tenant, who, dry_run)
        receipt.usage_rows_anonymized = await self._store.anonymize_usage(
            tenant, who.value, dry_run=dry_run
        )
        receipt.finished_at = self._clock()
        return receipt

    async def _responses(self, tenant: str, who: EndUser, receipt: ErasureReceipt) -> set[str]:
        """Delete (or count) the responses that named `who`; the conversations they ran in,
        which go whole afterwards."""
        conversations: set[str] = set()
        after = None
        while page := await self._store.scan_responses(tenant, after=after, limit=self._batch):
            after = page[-1].id
            for record in page:
                if not who.named_in(record.settings):
                    continue
                receipt.responses += 1
                if record.conversation_id is not None:
                    conversations.add(record.conversation_id)
                elif not receipt.dry_run:
                    await self._store.delete_response(tenant, record.id)
        return conversations

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

    async def _completions(self, tenant: str, who: EndUser, dry_run: bool) -> int:
        assert who.metadata_key is not None
        flt = CompletionFilter(metadata={who.metadata_key: who.value})
        count, after = 0, None
        while True:
            # Deleting, each page is the first one again: `after` may not name a deleted one.
            page = await self._store.list_completions(
                tenant, flt, after=after, limit=_PAGE, order="asc"
            )
            for completion in page.completions:
                if dry_run or await self._store.delete_completion(tenant, completion.id):
                    count += 1
            if not page.has_more or not page.completions:
                return count
            if dry_run:
                after = page.completions[-1].id
