"""Whether the background queue has room for one more response: the whole queue's bound, and
each tenant's share of it (one tenant cannot fill the queue for the others)."""

from __future__ import annotations

from dataclasses import dataclass

from threadline.errors import QueueFull
from threadline.storage.base import Store


@dataclass(frozen=True, slots=True)
class QueueRoom:
    limit: int
    tenant_limit: int

    async def check(self, store: Store, tenant: str) -> None:
        """Raise `QueueFull` (the tenant's share first) when a response of `tenant` may not
        be queued now."""
        waiting = await store.count_queued_jobs()
        # The tenant's own count matters only once the whole queue could hold its share: a
        # second read saved on nearly every create.
        if (
            waiting >= self.tenant_limit
            and await store.count_queued_jobs(tenant) >= self.tenant_limit
        ):
            raise QueueFull(
                f"This API key's tenant has {self.tenant_limit} background responses waiting "
                "to run, its share of the queue; retry when some have started."
            )
        if waiting >= self.limit:
            raise QueueFull(
                f"The background queue is full ({self.limit} responses wait to run); retry later."
            )
