"""The stored chat completions of MemoryStore (see memory.py for why nothing here interleaves).
Records are copied in and out, as a database would, so a caller never holds the stored one."""

from __future__ import annotations

import copy

from threadline.errors import Conflict, InvalidRequest
from threadline.storage.base import (
    EVERY_TENANT,
    CompletionFilter,
    CompletionPage,
    Order,
    StoredCompletion,
    TenantScope,
)
from threadline.storage.memory_changes import MemoryChanges


class MemoryCompletions(MemoryChanges):
    def __init__(self) -> None:
        self._completions: dict[str, StoredCompletion] = {}

    async def save_completion(self, completion: StoredCompletion) -> None:
        if completion.id in self._completions:
            raise Conflict(f"A chat completion with id '{completion.id}' already exists")
        self._completions[completion.id] = copy.deepcopy(completion)
        self._changed("chat.completion", completion.id, completion.tenant)

    async def get_completion(self, tenant: str, completion_id: str) -> StoredCompletion | None:
        found = self._completion(tenant, completion_id)
        return None if found is None else copy.deepcopy(found)

    async def list_completions(
        self, tenant: str, flt: CompletionFilter, *, after: str | None, limit: int, order: Order
    ) -> CompletionPage:
        def matches(c: StoredCompletion) -> bool:
            return (
                c.tenant == tenant
                and (flt.model is None or c.model == flt.model)
                and all(c.metadata.get(key) == value for key, value in flt.metadata.items())
            )

        found = sorted(
            (c for c in self._completions.values() if matches(c)),
            key=lambda c: (c.created_at, c.id),
            reverse=order == "desc",
        )
        if after is not None:
            anchor = self._completion(tenant, after)
            if anchor is None:
                raise InvalidRequest(
                    f"No chat completion with id '{after}' in this list", param="after"
                )
            cursor = (anchor.created_at, anchor.id)
            if order == "desc":
                found = [c for c in found if (c.created_at, c.id) < cursor]
            else:
                found = [c for c in found if (c.created_at, c.id) > cursor]
        return CompletionPage(
            completions=[copy.deepcopy(c) for c in found[:limit]], has_more=len(found) > limit
        )

    async def update_completion_metadata(
        self, tenant: str, completion_id: str, metadata: dict[str, str]
    ) -> StoredCompletion | None:
        found = self._completion(tenant, completion_id)
        if found is None:
            return None
        found.metadata = dict(metadata)
        self._changed("chat.completion", completion_id, tenant)
        return copy.deepcopy(found)

    async def delete_completion(self, tenant: str, completion_id: str) -> bool:
        if self._completion(tenant, completion_id) is None:
            return False
        del self._completions[completion_id]
        self._changed("chat.completion", completion_id, tenant, deleted=True)
        return True

    async def delete_completions_created_before(
        self, cutoff: float, scope: TenantScope = EVERY_TENANT
    ) -> int:
        old = [
            c
            for c in self._completions.values()
            if c.created_at < cutoff and scope.includes(c.tenant)
        ]
        for completion in old:
            del self._completions[completion.id]
            self._changed("chat.completion", completion.id, completion.tenant, deleted=True)
        return len(old)

    def _has_completions(self, tenant: str) -> bool:
        return any(c.tenant == tenant for c in self._completions.values())

    def _completion(self, tenant: str, completion_id: str) -> StoredCompletion | None:
        found = self._completions.get(completion_id)
        return found if found is not None and found.tenant == tenant else None
