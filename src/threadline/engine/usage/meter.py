"""The usage meter: every model call that answered a request is charged here, once, as a
ledger row (storage/usage.py) with its cost.

Rows are buffered and written in batches (every `flush_seconds`, and when the process stops),
so the ledger adds no write to a turn's path. The price of that: a process killed without a
shutdown loses at most `flush_seconds` of rows. A key with rate or spend limits (`metered`)
also has its tokens and cost added to its counters, on the same schedule; until then this
process's admission adds them itself (`unwritten`), so a key's own next request is judged on
everything it used, and another process sees them within `flush_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from threadline.engine.clock import Clock, system_clock
from threadline.engine.usage.prices import PriceTable
from threadline.providers.base import UsageReport
from threadline.storage.base import Item, Store
from threadline.storage.usage import KeyCounts, KeyWindows, UsageKind, UsageRecord

log = logging.getLogger(__name__)

MAX_END_USER_CHARS = 256


@dataclass(frozen=True, slots=True)
class Payer:
    """Whom a call is charged to: the API key (None on an open server, or with the caller's
    own provider key) and whether that key has limits whose counters must be kept."""

    api_key_id: str | None = None
    metered: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"api_key_id": self.api_key_id, "metered": self.metered}

    @staticmethod
    def from_json(value: Any) -> Payer:
        if not isinstance(value, dict):
            return ANONYMOUS
        key = value.get("api_key_id")
        return Payer(key if isinstance(key, str) else None, bool(value.get("metered")))


ANONYMOUS = Payer()


@dataclass(frozen=True, slots=True)
class Charge:
    """One model call's usage, as the engine saw it."""

    tenant: str
    payer: Payer
    kind: UsageKind
    model: str
    """As the client named it."""
    deployment: str
    """As the upstream was sent it."""
    usage: UsageReport
    started_at: float
    object_id: str | None = None
    end_user: str | None = None
    tool_calls: int = 0


def key_windows(now: float) -> KeyWindows:
    """The minute, UTC day and UTC month `now` falls in."""
    moment = datetime.fromtimestamp(now, UTC)
    month = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return KeyWindows(minute=now // 60 * 60, day=now // 86_400 * 86_400, month=month.timestamp())


def usage_report(usage: Mapping[str, Any] | None) -> UsageReport:
    """A Responses `usage` object as counts (zeros where absent)."""
    if not usage:
        return UsageReport(0, 0)
    inputs = usage.get("input_tokens_details") or {}
    outputs = usage.get("output_tokens_details") or {}
    return UsageReport(
        int(usage.get("input_tokens") or 0),
        int(usage.get("output_tokens") or 0),
        int(inputs.get("cached_tokens") or 0),
        int(outputs.get("reasoning_tokens") or 0),
    )


def tool_calls_in(items: list[Item]) -> int:
    """The tool calls among output items: function, custom and server-side tools alike."""
    return sum(1 for item in items if str(item.get("type", "")).endswith("_call"))


class UsageMeter:
    def __init__(
        self,
        store: Store,
        prices: PriceTable | None = None,
        clock: Clock = system_clock,
        *,
        end_user_metadata_key: str | None = None,
        flush_seconds: float = 1.0,
        max_buffered: int = 100_000,
    ) -> None:
        self._store = store
        self._prices = prices or PriceTable()
        self._clock = clock
        self._metadata_key = end_user_metadata_key
        self._flush_seconds = flush_seconds
        self._max_buffered = max_buffered
        self._buffer: list[UsageRecord] = []
        self._unwritten: dict[tuple[str, KeyWindows], tuple[int, float]] = {}
        """Metered keys' usage not yet added to their counters: (tokens, cost) by key and
        the windows it was used in."""
        self._dropped = 0
        self._task: asyncio.Task[None] | None = None

    def end_user(
        self, user: Any, safety_identifier: Any, metadata: Mapping[str, Any] | None
    ) -> str | None:
        """Who the end user is: `safety_identifier`, else `user`, else the configured
        metadata key's value."""
        for value in (
            safety_identifier,
            user,
            (metadata or {}).get(self._metadata_key) if self._metadata_key else None,
        ):
            if isinstance(value, str) and value:
                return value[:MAX_END_USER_CHARS]
        return None

    async def charge(self, charge: Charge) -> None:
        """Record one call. Never raises: a ledger that cannot be written must not fail the
        answer it accounts for (the failure is logged)."""
        now = self._clock()
        models = (charge.deployment, charge.model)
        cost = self._prices.cost(models, charge.usage)
        usage = charge.usage
        self._buffer_record(
            UsageRecord(
                tenant=charge.tenant,
                api_key_id=charge.payer.api_key_id,
                end_user=charge.end_user,
                kind=charge.kind,
                model=charge.model,
                deployment=charge.deployment,
                object_id=charge.object_id,
                input_tokens=usage.input_tokens,
                cached_tokens=usage.cached_tokens,
                output_tokens=usage.output_tokens,
                reasoning_tokens=usage.reasoning_tokens,
                tool_calls=charge.tool_calls,
                latency_ms=max(0.0, (now - charge.started_at) * 1000.0),
                cost=cost,
                created_at=now,
            )
        )
        key = charge.payer.api_key_id
        if charge.payer.metered and key is not None:
            at = (key, key_windows(now))
            tokens, spent = self._unwritten.get(at, (0, 0.0))
            self._unwritten[at] = (tokens + usage.input_tokens + usage.output_tokens, spent + cost)

    def unwritten(self, api_key_id: str, windows: KeyWindows) -> KeyCounts:
        """What this process charged to the key in these windows and has not written yet."""
        tokens, today, month = 0, 0.0, 0.0
        for (key, at), (used, cost) in self._unwritten.items():
            if key != api_key_id:
                continue
            tokens += used if at.minute == windows.minute else 0
            today += cost if at.day == windows.day else 0.0
            month += cost if at.month == windows.month else 0.0
        return KeyCounts(tokens=tokens, cost_today=today, cost_this_month=month)

    def _buffer_record(self, record: UsageRecord) -> None:
        if len(self._buffer) >= self._max_buffered:
            # The store has been unwritable for a while: keep memory bounded, say so.
            self._buffer.pop(0)
            self._dropped += 1
            if self._dropped in (1, 1_000) or self._dropped % 100_000 == 0:
                log.error("usage ledger: %d rows dropped (the store refuses writes)", self._dropped)
        self._buffer.append(record)

    async def flush(self) -> None:
        """Write what is buffered; kept for the next flush if the store refuses it."""
        await self._flush_counters()
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        try:
            await self._store.record_usage(batch)
        except Exception:
            log.exception("usage ledger: %d rows could not be written; retrying", len(batch))
            self._buffer[:0] = batch
            del self._buffer[: max(0, len(self._buffer) - self._max_buffered)]

    async def _flush_counters(self) -> None:
        while self._unwritten:
            (key, at), (tokens, cost) = next(iter(self._unwritten.items()))
            try:
                await self._store.add_key_usage(key, at, tokens, cost)
            except Exception:
                log.exception("the usage counters of API key %s could not be updated", key)
                return
            left = self._unwritten.pop((key, at))
            if left != (tokens, cost):  # charged meanwhile: keep the rest for the next flush
                self._unwritten[(key, at)] = (left[0] - tokens, left[1] - cost)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._flush_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self._flush_seconds)
            await self.flush()
