"""The sweeper: ends abandoned turns, records idle expiry and deletes responses past the
retention period.

Abandoned turns: a turn whose process died stays `in_progress` until its lease lapses; each
sweep ends such turns `failed` (running_turns.py), on whichever process sweeps first.

What is deleted: responses created longer ago than `response_retention`, or than their
tenant's own (`tenant_response_retention`), with the input and output items they own, except
items that are part of a conversation, which live as long as their conversation, and stored
chat completions as old. Conversations are never deleted by the sweeper; idle ones become
`expired` (and stay readable and exportable). The change feed's tombstones are forgotten after
`export_tombstone_retention`. Legal holds (engine/holds.py) win: a held tenant is not swept;
a tenant with held conversations or end users is swept object by object, around them.
API keys' usage counters are dropped once no limit reads them
(storage/usage.py); the usage ledger itself is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from threadline.engine.clock import Clock, system_clock
from threadline.engine.holds import HoldSet
from threadline.engine.responses.running_turns import INTERRUPTED_ERROR, SIDE_EFFECTS_RAN_ERROR
from threadline.storage.base import CompletionFilter, Store, TenantScope
from threadline.storage.holds import LegalHold
from threadline.storage.usage import WindowName

log = logging.getLogger(__name__)

_SWEEP_PAGE = 500


@dataclass(slots=True)
class SweepReport:
    expired_conversations: int
    deleted_responses: int
    abandoned_turns: int = 0
    deleted_completions: int = 0
    held: int = 0
    """Responses and stored chat completions past retention that legal holds kept."""


def stale_windows(now: float) -> dict[WindowName, float]:
    """Cutoffs past which a key's counters can no longer be read: admission reads the current
    minute, UTC day and UTC month only (a margin of one more of each)."""
    return {"minute": now - 120, "day": now - 2 * 86_400, "month": now - 62 * 86_400}


class RetentionSweeper:
    def __init__(
        self,
        store: Store,
        *,
        response_retention: float | None,
        idle_ttl: float | None,
        tenant_retention: Mapping[str, float | None] | None = None,
        tombstone_retention: float | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self._store = store
        self._retention = response_retention
        self._tenant_retention = dict(tenant_retention or {})
        self._idle_ttl = idle_ttl
        self._tombstone_retention = tombstone_retention
        self._clock = clock

    @property
    def retention_enabled(self) -> bool:
        """Whether a sweep deletes or expires anything (ending abandoned turns aside)."""
        kept = (self._retention, *self._tenant_retention.values())
        return any(r is not None for r in kept) or self._idle_ttl is not None

    async def sweep_once(self) -> SweepReport:
        now = self._clock()
        abandoned = await self._store.fail_abandoned_turns(now, INTERRUPTED_ERROR)
        if abandoned:
            log.warning("sweep: %d turns whose process stopped were ended as failed", abandoned)
        requeued = await self._store.requeue_abandoned_jobs(now, SIDE_EFFECTS_RAN_ERROR)
        if requeued:
            log.warning(
                "sweep: %d background jobs whose process stopped were queued again", requeued
            )
        expired = (
            await self._store.expire_idle_conversations(now - self._idle_ttl, now)
            if self._idle_ttl is not None
            else 0
        )
        deleted = completions = held = 0
        holds = await self._holds()
        for scope, retention in self._scopes(frozenset(holds)):
            # Stored chat completions are kept as long as responses are.
            cutoff = now - retention
            deleted += await self._store.delete_responses_created_before(cutoff, scope)
            completions += await self._store.delete_completions_created_before(cutoff, scope)
        for tenant, kept in sorted(holds.items()):
            kept_for = self._tenant_retention.get(tenant, self._retention)
            if kept_for is None:
                continue
            counts = await self._sweep_around(tenant, now - kept_for, kept)
            deleted, completions, held = (
                deleted + counts[0],
                completions + counts[1],
                held + counts[2],
            )
        if held:
            log.info("sweep: %d responses and chat completions past retention kept on hold", held)
        if self._tombstone_retention is not None:
            await self._store.forget_tombstones(now - self._tombstone_retention)
        await self._store.prune_key_windows(stale_windows(now))
        await self._store.refresh_search_index()
        stores = await self._store.delete_expired_vector_stores(now)
        if stores:
            log.info("sweep: %d expired vector stores deleted", stores)
        if expired or deleted or completions:
            log.info(
                "sweep: %d conversations expired, %d responses and %d chat completions deleted",
                expired,
                deleted,
                completions,
            )
        return SweepReport(expired, deleted, abandoned, completions, held)

    def _scopes(self, held: frozenset[str]) -> list[tuple[TenantScope, float]]:
        """Each tenant with its own retention, then every other tenant with the global one
        (a tenant kept forever, or with no override under a global `None`, is never swept);
        tenants with holds (`held`) aside, swept around their holds."""
        scopes = [
            (TenantScope(only=tenant), retention)
            for tenant, retention in sorted(self._tenant_retention.items())
            if retention is not None and tenant not in held
        ]
        if self._retention is not None:
            others = TenantScope(excluding=frozenset(self._tenant_retention) | held)
            scopes.append((others, self._retention))
        return scopes

    async def _holds(self) -> dict[str, HoldSet]:
        by_tenant: dict[str, list[LegalHold]] = {}
        for hold in await self._store.list_holds():
            by_tenant.setdefault(hold.tenant, []).append(hold)
        return {tenant: HoldSet(holds) for tenant, holds in by_tenant.items()}

    async def _sweep_around(
        self, tenant: str, cutoff: float, holds: HoldSet
    ) -> tuple[int, int, int]:
        """Delete the tenant's responses and stored completions created before `cutoff`, one
        by one, but those its holds keep: (responses deleted, completions deleted, kept)."""
        if holds.tenant:
            return 0, 0, 0
        deleted = completions = kept = 0
        after = None
        while page := await self._store.scan_responses(
            tenant, after=after, limit=_SWEEP_PAGE, created_before=cutoff
        ):
            after = page[-1].id
            for record in page:
                if holds.holds_response(record):
                    kept += 1
                elif await self._store.delete_response(tenant, record.id):
                    deleted += 1
        after = None
        while True:
            listed = await self._store.list_completions(
                tenant, CompletionFilter(), after=after, limit=_SWEEP_PAGE, order="asc"
            )
            young = [c for c in listed.completions if c.created_at >= cutoff]
            for completion in listed.completions[: len(listed.completions) - len(young)]:
                if holds.holds_completion(completion.metadata):
                    kept, after = kept + 1, completion.id  # kept: the next page follows it
                elif await self._store.delete_completion(tenant, completion.id):
                    completions += 1  # deleted: `after` may not name it
            if young or not listed.has_more:
                return deleted, completions, kept
