"""Admission: whether a request may spend, by its API key's limits.

Checked before the model is called: the key's model allow-list, then (for a key with rates or
budgets) its counters in the store, which every process shares, so a limit holds across
`--workers` and replicas. A refusal is OpenAI's: 403 `model_not_found` for a model the key may
not use, 429 `rate_limit_exceeded` for a rate, 429 `insufficient_quota` for a spent budget,
with `Retry-After`; an admitted request carries the `x-ratelimit-*` headers of its key's rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from threadline.engine.api_keys import Caller
from threadline.engine.clock import Clock, system_clock
from threadline.engine.usage.meter import UsageMeter, key_windows
from threadline.errors import ModelNotAllowed, QuotaExceeded, RateLimited, ThreadlineError
from threadline.storage.base import Store
from threadline.storage.usage import KeyCounts, KeyQuota, KeyWindows


@dataclass(frozen=True, slots=True)
class Admission:
    """An admitted request's view of its key's rates, for the `x-ratelimit-*` headers."""

    quota: KeyQuota
    counts: KeyCounts
    windows: KeyWindows
    now: float

    def headers(self) -> dict[str, str]:
        reset = _duration(self.windows.minute + 60 - self.now)
        headers = {}
        rpm, tpm = self.quota.requests_per_minute, self.quota.tokens_per_minute
        if rpm is not None:
            headers["x-ratelimit-limit-requests"] = str(rpm)
            headers["x-ratelimit-remaining-requests"] = str(max(0, rpm - self.counts.requests))
            headers["x-ratelimit-reset-requests"] = reset
        if tpm is not None:
            headers["x-ratelimit-limit-tokens"] = str(tpm)
            headers["x-ratelimit-remaining-tokens"] = str(max(0, tpm - self.counts.tokens))
            headers["x-ratelimit-reset-tokens"] = reset
        return headers


class Gatekeeper:
    def __init__(self, store: Store, meter: UsageMeter, clock: Clock = system_clock) -> None:
        self._store = store
        self._meter = meter
        self._clock = clock

    async def admit(self, caller: Caller, model: str) -> Admission | None:
        """Admit one request of `caller` naming `model`, or raise why not. None: the key has
        no rates or budgets (nothing was counted)."""
        limits = caller.limits
        if limits.models is not None and model not in limits.models:
            allowed = ", ".join(limits.models) or "none"
            raise ModelNotAllowed(
                f"The model `{model}` does not exist or you do not have access to it. "
                f"This API key may use: {allowed}.",
                param="model",
            )
        if caller.key_id is None or not limits.metered:
            return None
        now = self._clock()
        windows = key_windows(now)
        unwritten = self._meter.unwritten(caller.key_id, windows)
        counts = await self._store.admit_key_request(
            caller.key_id, windows, limits.quota, unwritten
        )
        admission = Admission(limits.quota, counts, windows, now)
        if counts.refused is not None:
            error = _refusal(admission)
            error.headers.update(admission.headers())
            raise error
        return admission


def _refusal(admission: Admission) -> ThreadlineError:
    quota, counts, now = admission.quota, admission.counts, admission.now
    minute_left = admission.windows.minute + 60 - now
    if counts.refused == "requests":
        return RateLimited(
            f"Rate limit reached for requests: this API key may make {quota.requests_per_minute} "
            f"requests per minute. Please try again in {_duration(minute_left)}.",
            limit="requests",
            retry_after=minute_left,
        )
    if counts.refused == "tokens":
        return RateLimited(
            f"Rate limit reached for tokens: this API key may use {quota.tokens_per_minute} "
            f"tokens per minute (used {counts.tokens}). Please try again in "
            f"{_duration(minute_left)}.",
            limit="tokens",
            retry_after=minute_left,
        )
    if counts.refused == "daily_budget":
        return QuotaExceeded(
            f"You exceeded your current quota: this API key's daily budget of "
            f"${quota.daily_budget:.2f} is spent (${counts.cost_today:.4f} today, UTC). It "
            "renews at midnight UTC; the operator can raise it (`threadline keys limits`).",
            retry_after=admission.windows.day + 86_400 - now,
        )
    next_month = _next_month(admission.windows.month)
    return QuotaExceeded(
        f"You exceeded your current quota: this API key's monthly budget of "
        f"${quota.monthly_budget:.2f} is spent (${counts.cost_this_month:.4f} this month, UTC). "
        "It renews on the first of the month; the operator can raise it "
        "(`threadline keys limits`).",
        retry_after=next_month - now,
    )


def _next_month(month_start: float) -> float:
    start = datetime.fromtimestamp(month_start, UTC)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.replace(year=year, month=month).timestamp()


def _duration(seconds: float) -> str:
    """OpenAI's reset format: `20ms`, `1s`, `6m0s`."""
    if seconds < 1:
        return f"{max(0, int(seconds * 1000))}ms"
    whole = int(seconds + 0.999)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"
