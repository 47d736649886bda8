"""Conversations: the items a turn continues from, and each conversation's lifecycle.

A conversation is `active` until it is closed (`closed`) or left unused for longer than the
idle TTL (`expired`). Expiry is decided on read, from `last_active_at`, so it holds exactly
even between sweeps; the sweeper only records it.

A conversation runs one turn at a time, as on OpenAI: a turn claims the conversation before it
reads its items, so it sees every turn before it, and a second turn sent meanwhile is refused
with `conversation_locked` (a client that abandoned a stream retries once that turn is saved).
The claim is a lease in the store, renewed while the turn runs (`hold`), so it holds across
workers and replicas and a crashed process frees the conversation when its lease lapses.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from threadline.engine.clock import Clock, system_clock
from threadline.errors import Conflict, ConversationLocked, NotFound
from threadline.storage.base import ConversationRecord, Item, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConversationTurn:
    """A turn's claim on its conversation, owned by the turn's response id."""

    tenant: str
    conversation_id: str
    owner: str


class ConversationPolicy:
    def __init__(
        self,
        store: Store,
        *,
        idle_ttl: float | None = None,
        lease_seconds: float = 30.0,
        clock: Clock = system_clock,
    ) -> None:
        self._store = store
        self.idle_ttl = idle_ttl
        self._lease = lease_seconds
        self._clock = clock

    def effective(self, conversation: ConversationRecord) -> ConversationRecord:
        """The record with `expired` applied if it has been idle past the TTL."""
        if (
            conversation.status == "active"
            and self.idle_ttl is not None
            and conversation.last_active_at < self._clock() - self.idle_ttl
        ):
            conversation.status = "expired"
            conversation.status_changed_at = conversation.last_active_at + self.idle_ttl
        return conversation

    async def begin_turn(
        self, tenant: str, conversation_id: str, owner: str
    ) -> tuple[ConversationTurn, list[Item]]:
        """Claim the conversation for the turn `owner`, then read its items, in order. The
        caller ends the claim: `save_turn` releases it, or `release` when nothing is saved."""
        now = self._clock()
        claim = await self._store.claim_conversation(
            tenant, conversation_id, owner, now=now, lease_until=now + self._lease
        )
        if claim == "missing":
            raise conversation_not_found(conversation_id, param="conversation")
        if claim == "locked":
            raise ConversationLocked(conversation_id)
        turn = ConversationTurn(tenant, conversation_id, owner)
        try:
            loaded = await self._store.load_conversation(tenant, conversation_id)
            if loaded is None:  # deleted since the claim
                raise conversation_not_found(conversation_id, param="conversation")
            conversation, items = loaded
            self.ensure_open(self.effective(conversation))
        except BaseException:
            await self.release(turn)
            raise
        return turn, items

    async def read_open(self, tenant: str, conversation_id: str) -> list[Item]:
        """The conversation's items, without claiming it (raising as `begin_turn` would if it
        is missing, closed or expired)."""
        loaded = await self._store.load_conversation(tenant, conversation_id)
        if loaded is None:
            raise conversation_not_found(conversation_id, param="conversation")
        conversation, items = loaded
        self.ensure_open(self.effective(conversation))
        return items

    async def hold(self, turn: ConversationTurn) -> None:
        """Renew the claim until cancelled (run as a task beside the turn). A failed renewal
        is logged, never raised: the turn itself must not fail for it."""
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                held = await self._store.renew_conversation_claim(
                    turn.tenant, turn.conversation_id, turn.owner, self._clock() + self._lease
                )
            except Exception:
                log.warning("could not renew the claim on a conversation", exc_info=True)
                continue
            if not held:
                return  # the conversation was deleted, or the claim lapsed and was taken

    async def release(self, turn: ConversationTurn) -> None:
        try:
            await asyncio.shield(
                self._store.release_conversation(turn.tenant, turn.conversation_id, turn.owner)
            )
        except Exception:
            # The lease lapses by itself; the conversation is only held until then.
            log.warning("could not release the claim on a conversation", exc_info=True)

    @staticmethod
    def ensure_open(conversation: ConversationRecord) -> None:
        if conversation.status == "active":
            return
        when = (
            datetime.fromtimestamp(conversation.status_changed_at, UTC).isoformat(
                timespec="seconds"
            )
            if conversation.status_changed_at is not None
            else "an unknown time"
        )
        raise Conflict(
            f"Conversation '{conversation.id}' is {conversation.status} (since {when}); "
            "start a new conversation to continue.",
            param="conversation",
            code=f"conversation_{conversation.status}",
        )


def conversation_not_found(conversation_id: str, param: str | None = None) -> NotFound:
    return NotFound(f"Conversation with id '{conversation_id}' not found.", param=param)


def conversation_object(conversation: ConversationRecord) -> dict[str, object]:
    """OpenAI's Conversation, plus Threadline's additive lifecycle fields."""
    return {
        "id": conversation.id,
        "object": "conversation",
        "created_at": int(conversation.created_at),
        "metadata": conversation.metadata,
        "status": conversation.status,
        "last_active_at": int(conversation.last_active_at),
    }
