"""The usage contract: a ledger of what every model call used and cost, and the per-key counters
that rate limits and budgets are checked against.

- The ledger (`record_usage`) is append-only: one `UsageRecord` per model call that answered a
  request (a response, a chat completion, an embedding, a compaction). Rows are written in
  batches; a batch is written whole or not at all. `summarize_usage` adds them up by time
  bucket and by any of `USAGE_DIMENSIONS`.
- The counters (`admit_key_request`, `add_key_usage`) are one row per key and window (the
  current minute, UTC day and UTC month). Admission is atomic per key: of any number of
  concurrent requests, in any number of processes, at most `requests_per_minute` are admitted
  in one minute, because the check and the increment are one conditional write (a key without
  a requests limit is only read). Token and spend limits are checked against what finished
  requests reported: the counters plus what the asking process used and has not written yet
  (`unwritten`), so requests already running when a limit is reached may still finish over it,
  and another process's usage counts once it is written.
- Counters are kept only while they can matter; `prune_key_windows` drops older ones.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

UsageKind = Literal["response", "chat.completion", "embedding", "compaction"]
UsageDimension = Literal["tenant", "api_key_id", "end_user", "model", "kind"]
USAGE_DIMENSIONS: tuple[UsageDimension, ...] = ("tenant", "api_key_id", "end_user", "model", "kind")
WindowName = Literal["minute", "day", "month"]


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """What one model call used: who asked (tenant, key, end user), what ran, and its cost in
    US dollars by the operator's price table."""

    tenant: str
    api_key_id: str | None
    end_user: str | None
    kind: UsageKind
    model: str
    """The model as the client named it."""
    deployment: str
    """The provider that served it (its name in the operator's configuration)."""
    object_id: str | None
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    reasoning_tokens: int
    tool_calls: int
    latency_ms: float
    cost: float
    created_at: float


@dataclass(frozen=True, slots=True)
class KeyWindows:
    """The starts (Unix seconds) of the windows a moment falls in."""

    minute: float
    day: float
    month: float

    def starts(self) -> dict[WindowName, float]:
        return {"minute": self.minute, "day": self.day, "month": self.month}


@dataclass(frozen=True, slots=True)
class KeyQuota:
    """The limits admission checks: None means no limit."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    daily_budget: float | None = None
    monthly_budget: float | None = None


NO_QUOTA = KeyQuota()


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """What an API key may do: until when, with which models, and how much (None: no bound)."""

    expires_at: float | None = None
    models: tuple[str, ...] | None = None
    """The models its requests may name; None: any."""
    quota: KeyQuota = NO_QUOTA

    @property
    def metered(self) -> bool:
        """Whether admission must consult the key's counters."""
        return self.quota != NO_QUOTA

    def described(self) -> str:
        """The limits in a few words (`keys list`, the console)."""
        quota = self.quota
        parts = []
        if self.models is not None:
            parts.append("models " + ",".join(self.models))
        if quota.requests_per_minute is not None:
            parts.append(f"{quota.requests_per_minute} rpm")
        if quota.tokens_per_minute is not None:
            parts.append(f"{quota.tokens_per_minute} tpm")
        if quota.daily_budget is not None:
            parts.append(f"${quota.daily_budget:g}/day")
        if quota.monthly_budget is not None:
            parts.append(f"${quota.monthly_budget:g}/month")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "expires_at": None if self.expires_at is None else int(self.expires_at),
            "models": None if self.models is None else list(self.models),
            **dataclasses.asdict(self.quota),
        }


NO_LIMITS = KeyLimits()


Refusal = Literal["requests", "tokens", "daily_budget", "monthly_budget"]


@dataclass(frozen=True, slots=True)
class KeyCounts:
    """A key's counters as admission found them (the request counted in `requests`, when
    admitted), and which limit refused it, if one did."""

    requests: int = 0
    tokens: int = 0
    cost_today: float = 0.0
    cost_this_month: float = 0.0
    refused: Refusal | None = None


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """Which ledger rows to add up, and how to group them. `bucket_seconds` None: one bucket
    from `start` to `end`."""

    start: float
    end: float
    tenant: str | None = None
    bucket_seconds: float | None = None
    group_by: tuple[UsageDimension, ...] = ()
    only: tuple[tuple[UsageDimension, tuple[str, ...]], ...] = ()
    """Rows whose dimension is one of the values, per dimension named."""

    def admits(self, record: UsageRecord) -> bool:
        """Whether `record` is one of the rows this query adds up."""
        if not self.start <= record.created_at < self.end:
            return False
        if self.tenant is not None and record.tenant != self.tenant:
            return False
        return all(getattr(record, name) in values for name, values in self.only)


@dataclass(slots=True)
class UsageTotals:
    """The sum of the ledger rows of one bucket and group."""

    bucket_start: float
    group: dict[str, str | None] = field(default_factory=dict)
    requests: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    tool_calls: int = 0
    latency_ms: float = 0.0
    """The sum of the requests' latencies (divide by `requests` for the mean)."""
    cost: float = 0.0

    def add(self, record: UsageRecord) -> None:
        self.requests += 1
        self.input_tokens += record.input_tokens
        self.cached_tokens += record.cached_tokens
        self.output_tokens += record.output_tokens
        self.reasoning_tokens += record.reasoning_tokens
        self.tool_calls += record.tool_calls
        self.latency_ms += record.latency_ms
        self.cost += record.cost


SUMMED = (
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "reasoning_tokens",
    "tool_calls",
    "latency_ms",
    "cost",
)
"""The fields of `UsageTotals` that add up ledger rows' fields of the same name."""


def totals_of(
    bucket_start: float, group: dict[str, str | None], requests: int, sums: Mapping[str, Any]
) -> UsageTotals:
    """A bucket's totals from a backend's sums (`SUMMED`, by name)."""
    return UsageTotals(
        bucket_start=bucket_start,
        group=group,
        requests=int(requests),
        input_tokens=int(sums["input_tokens"]),
        cached_tokens=int(sums["cached_tokens"]),
        output_tokens=int(sums["output_tokens"]),
        reasoning_tokens=int(sums["reasoning_tokens"]),
        tool_calls=int(sums["tool_calls"]),
        latency_ms=float(sums["latency_ms"]),
        cost=float(sums["cost"]),
    )


def bucket_of(query: UsageQuery, created_at: float) -> float:
    """The start of the bucket a moment falls in, counted from `query.start`."""
    if query.bucket_seconds is None:
        return query.start
    n = int((created_at - query.start) // query.bucket_seconds)
    return query.start + n * query.bucket_seconds


def sort_totals(totals: list[UsageTotals]) -> list[UsageTotals]:
    """Buckets oldest first; within one, the costliest group first (then by name, stable)."""
    return sorted(
        totals,
        key=lambda t: (
            t.bucket_start,
            -t.cost,
            -t.requests,
            tuple(str(v) for v in t.group.values()),
        ),
    )


NO_COUNTS = KeyCounts()


def with_unwritten(counts: KeyCounts, unwritten: KeyCounts) -> KeyCounts:
    return KeyCounts(
        requests=counts.requests,
        tokens=counts.tokens + unwritten.tokens,
        cost_today=counts.cost_today + unwritten.cost_today,
        cost_this_month=counts.cost_this_month + unwritten.cost_this_month,
    )


def refusal_before_counting(counts: KeyCounts, quota: KeyQuota) -> Refusal | None:
    """The token or spend limit the counters already reach, if any (checked before the
    request is counted)."""
    if quota.tokens_per_minute is not None and counts.tokens >= quota.tokens_per_minute:
        return "tokens"
    if quota.daily_budget is not None and counts.cost_today >= quota.daily_budget:
        return "daily_budget"
    if quota.monthly_budget is not None and counts.cost_this_month >= quota.monthly_budget:
        return "monthly_budget"
    return None


class UsageLedger(abc.ABC):
    """The part of `Store` that keeps usage (see the module docstring)."""

    @abc.abstractmethod
    async def record_usage(self, records: list[UsageRecord]) -> None: ...

    @abc.abstractmethod
    async def summarize_usage(self, query: UsageQuery) -> list[UsageTotals]:
        """The totals of the rows with `start <= created_at < end` (and `tenant`, if given), one
        per bucket and group that has rows, ordered by `sort_totals`."""

    @abc.abstractmethod
    async def admit_key_request(
        self,
        api_key_id: str,
        windows: KeyWindows,
        quota: KeyQuota,
        unwritten: KeyCounts = NO_COUNTS,
    ) -> KeyCounts:
        """Count one request in the key's minute (when `quota` limits requests) unless a limit
        is reached; the counters either way, `unwritten` added, with the refusing limit (then
        nothing was counted)."""

    @abc.abstractmethod
    async def add_key_usage(
        self, api_key_id: str, windows: KeyWindows, tokens: int, cost: float
    ) -> None:
        """Add what a finished request used to the key's minute, day and month."""

    @abc.abstractmethod
    async def anonymize_usage(self, tenant: str, end_user: str, *, dry_run: bool = False) -> int:
        """Forget `end_user` in the tenant's ledger rows (their totals stay); how many rows
        (that would be) changed."""

    @abc.abstractmethod
    async def prune_key_windows(self, before: dict[WindowName, float]) -> int:
        """Drop each window kind's counters that start before its cutoff; how many went."""
