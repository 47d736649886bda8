"""The context-cache protocol of the SQL store: when a cached context may be served, how a
load refreshes it, and how a saved turn extends it (the cache itself, and why its copies are
never trusted past a change: context_cache.py).

A load with no cached copy is one statement that reads the context with the generation it is
tagged with (`…_WITH_GENERATION`). With a copy, the generation (and, for a conversation, its
row and `next_position`) is read alone first: that small read is all a hit costs, whatever the
history's length; only a copy a change made stale costs a second statement. Leaving the items
out inside one statement instead made every hit walk them (about 100 µs more a hit at 300
items on SQLite, measured), to save a statement only on the rare stale copy.
"""

from __future__ import annotations

import dataclasses

from threadline.storage.base import ConversationRecord, Item, TurnRecord
from threadline.storage.encryption import ContentCodec
from threadline.storage.sql import conversations, responses
from threadline.storage.sql.context_cache import (
    CachedContext,
    ContextCache,
    chain_key,
    conversation_key,
)
from threadline.storage.sql.databases import Database


class CachedContexts:
    def __init__(self, db: Database, codec: ContentCodec, max_bytes: int) -> None:
        self._db = db
        self._codec = codec
        self._cache = ContextCache(max_bytes)
        self._generation: int | None = None
        """The latest generation this process has read: a safe tag for a context created
        after that read (a deletion since would have moved the generation past it)."""

    @property
    def enabled(self) -> bool:
        return self._cache.enabled

    async def load_chain(self, tenant: str, response_id: str) -> list[Item] | None:
        key = chain_key(tenant, response_id)
        cached = self._cache.get(key)
        state = await self._db.read(
            responses.load_chain_unless_cached,
            self._codec,
            tenant,
            response_id,
            None if cached is None else cached.generation,
        )
        self._saw_generation(state.generation)
        if not state.found:
            self._cache.drop(key)
            return None
        if state.items is None:
            assert cached is not None  # items are left out only when the copy is current
            return cached.items()
        if state.generation is not None:
            self._cache.put(key, CachedContext.read(state.items, state.size, state.generation))
        return state.items

    async def load_conversation(
        self, tenant: str, conversation_id: str
    ) -> tuple[ConversationRecord, list[Item]] | None:
        key = conversation_key(tenant, conversation_id)
        cached = self._cache.get(key)
        tag = None
        if cached is not None and cached.next_position is not None:
            tag = (cached.generation, cached.next_position)
        state = await self._db.read(
            conversations.load_conversation_unless_cached, self._codec, tenant, conversation_id, tag
        )
        if state is None:
            self._cache.drop(key)
            return None
        self._saw_generation(state.generation)
        if state.items is None:
            assert cached is not None  # items are left out only when the copy is current
            return state.record, cached.items()
        if state.generation is not None:
            entry = CachedContext.read(
                state.items, state.size, state.generation, state.next_position
            )
            self._cache.put(key, entry)
        return state.record, state.items

    def remember_turn(
        self, turn: TurnRecord, prepared: responses.PreparedTurn, start: int | None
    ) -> None:
        """Extend the cached contexts this saved turn continues, instead of reading them
        again. `start` is the conversation position its items took, if appended to one."""
        record, rows = turn.response, prepared.item_rows
        before: CachedContext | None = None
        conversation: tuple[str, str, str] | None = None
        if record.previous_response_id is not None:
            before = self._cache.get(chain_key(record.tenant, record.previous_response_id))
        elif record.conversation_id is not None and start is not None:
            conversation = conversation_key(record.tenant, record.conversation_id)
            before = self._cache.get(conversation)
            if before is None or before.next_position != start:
                return  # unknown, or another turn appended first
        elif record.conversation_id is None and self._generation is not None:
            before = CachedContext.read([], 0, self._generation)
        if before is None:
            return
        # Parsed back from the stored text: the cache holds what a reload would give, never
        # the caller's objects.
        own = [self._codec.load(row["data"]) for row in rows]
        size = sum(len(row["data"]) for row in rows)
        if conversation is not None and start is not None:
            extended = before.extended(own, size, start + len(rows))
            self._cache.put(conversation, extended)
            # The chain's entry shares the conversation's history, items and segment.
            chain = dataclasses.replace(extended, next_position=None)
        else:
            chain = before.extended(own, size, None)
        self._cache.put(chain_key(record.tenant, record.id), chain)

    def _saw_generation(self, generation: int | None) -> None:
        if generation is not None and (self._generation is None or generation > self._generation):
            self._generation = generation
