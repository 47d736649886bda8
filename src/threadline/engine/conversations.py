"""Conversations: the items a turn continues from, and each conversation's lifecycle.

A conversation is `active` until it is closed (`closed`) or left unused for longer than the
idle TTL (`expired`). Expiry is decided on read, from `last_active_at`, so it holds exactly
even between sweeps; the sweeper only records it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from threadline.engine.clock import Clock, system_clock
from threadline.errors import Conflict, NotFound
from threadline.storage.base import ConversationRecord, Item, Store


class ConversationPolicy:
    def __init__(
        self, store: Store, *, idle_ttl: float | None = None, clock: Clock = system_clock
    ) -> None:
        self._store = store
        self.idle_ttl = idle_ttl
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

    async def context_for_turn(self, tenant: str, conversation_id: str) -> list[Item]:
        """The conversation's items, in order, if a new turn may run on it."""
        loaded = await self._store.load_conversation(tenant, conversation_id)
        if loaded is None:
            raise conversation_not_found(conversation_id, param="conversation")
        conversation, items = loaded
        self.ensure_open(self.effective(conversation))
        return items

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
