"""The usage part of MemoryStore (see memory.py and storage/usage.py)."""

from __future__ import annotations

import dataclasses

from threadline.storage.usage import (
    NO_COUNTS,
    KeyCounts,
    KeyQuota,
    KeyWindows,
    UsageLedger,
    UsageQuery,
    UsageRecord,
    UsageTotals,
    WindowName,
    bucket_of,
    refusal_before_counting,
    sort_totals,
    with_unwritten,
)


@dataclasses.dataclass(slots=True)
class _Window:
    requests: int = 0
    tokens: int = 0
    cost: float = 0.0


class MemoryUsage(UsageLedger):
    def __init__(self) -> None:
        self._usage: list[UsageRecord] = []
        self._windows: dict[tuple[str, WindowName, float], _Window] = {}

    async def record_usage(self, records: list[UsageRecord]) -> None:
        self._usage.extend(records)

    async def summarize_usage(self, query: UsageQuery) -> list[UsageTotals]:
        totals: dict[tuple[object, ...], UsageTotals] = {}
        for record in self._usage:
            if not query.admits(record):
                continue
            group: dict[str, str | None] = {n: getattr(record, n) for n in query.group_by}
            bucket = bucket_of(query, record.created_at)
            key = (bucket, *group.values())
            totals.setdefault(key, UsageTotals(bucket, group)).add(record)
        return sort_totals(list(totals.values()))

    async def admit_key_request(
        self,
        api_key_id: str,
        windows: KeyWindows,
        quota: KeyQuota,
        unwritten: KeyCounts = NO_COUNTS,
    ) -> KeyCounts:
        minute = self._windows.get((api_key_id, "minute", windows.minute), _Window())
        day = self._windows.get((api_key_id, "day", windows.day), _Window())
        month = self._windows.get((api_key_id, "month", windows.month), _Window())
        counts = KeyCounts(minute.requests, minute.tokens, day.cost, month.cost)
        counts = with_unwritten(counts, unwritten)
        refused = refusal_before_counting(counts, quota)
        limit = quota.requests_per_minute
        if refused is None and limit is not None and minute.requests >= limit:
            refused = "requests"
        if refused is not None:
            return dataclasses.replace(counts, refused=refused)
        if limit is None:
            return counts
        minute.requests += 1
        self._windows[(api_key_id, "minute", windows.minute)] = minute
        return dataclasses.replace(counts, requests=minute.requests)

    async def add_key_usage(
        self, api_key_id: str, windows: KeyWindows, tokens: int, cost: float
    ) -> None:
        for name, start in windows.starts().items():
            window = self._windows.setdefault((api_key_id, name, start), _Window())
            window.tokens += tokens
            window.cost += cost

    async def anonymize_usage(self, tenant: str, end_user: str, *, dry_run: bool = False) -> int:
        mine = [
            i for i, r in enumerate(self._usage) if r.tenant == tenant and r.end_user == end_user
        ]
        if not dry_run:
            for i in mine:
                self._usage[i] = dataclasses.replace(self._usage[i], end_user=None)
        return len(mine)

    async def prune_key_windows(self, before: dict[WindowName, float]) -> int:
        old = [k for k in self._windows if k[1] in before and k[2] < before[k[1]]]
        for key in old:
            del self._windows[key]
        return len(old)
