"""The usage half of the SQL store (storage/usage.py): the ledger and the per-key windows, each
operation a function of a sync `Connection` that databases.py runs in one call.

Admission is one conditional upsert (`… ON CONFLICT DO UPDATE … WHERE requests < limit
RETURNING`), which both SQLite and PostgreSQL apply atomically per row: concurrent requests of
one key, in any process, are admitted at most `requests_per_minute` times a minute."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from threadline.storage.sql.databases import Database
from threadline.storage.sql.tables import key_usage_windows as windows
from threadline.storage.sql.tables import usage_records
from threadline.storage.usage import (
    KeyCounts,
    KeyQuota,
    KeyWindows,
    UsageLedger,
    UsageQuery,
    UsageRecord,
    UsageTotals,
    WindowName,
    refusal_before_counting,
    sort_totals,
)

_SUMMED = (
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "reasoning_tokens",
    "tool_calls",
    "latency_ms",
    "cost",
)


def record_usage(conn: Connection, records: list[UsageRecord]) -> None:
    if records:
        conn.execute(insert(usage_records), [dataclasses.asdict(r) for r in records])


def summarize_usage(conn: Connection, query: UsageQuery) -> list[UsageTotals]:
    c = usage_records.c
    bucket: ColumnElement[Any] = (
        func.floor((c.created_at - query.start) / query.bucket_seconds)
        if query.bucket_seconds is not None
        else func.min(0)
    )
    groups = [c[name] for name in query.group_by]
    stmt = select(
        bucket.label("bucket"),
        *groups,
        func.count().label("requests"),
        *(func.sum(c[name]).label(name) for name in _SUMMED),
    ).where(c.created_at >= query.start, c.created_at < query.end)
    if query.tenant is not None:
        stmt = stmt.where(c.tenant == query.tenant)
    for name, values in query.only:
        stmt = stmt.where(c[name].in_(values))
    keys: list[Any] = [*groups]
    if query.bucket_seconds is not None:
        keys.insert(0, bucket)
    if keys:
        stmt = stmt.group_by(*keys)
    totals = []
    for row in conn.execute(stmt).all():
        m = row._mapping
        if not m["requests"]:
            continue  # an aggregate without GROUP BY over no rows
        start = query.start + float(m["bucket"] or 0) * (query.bucket_seconds or 0.0)
        totals.append(
            UsageTotals(
                bucket_start=start,
                group={name: m[name] for name in query.group_by},
                requests=int(m["requests"]),
                input_tokens=int(m["input_tokens"]),
                cached_tokens=int(m["cached_tokens"]),
                output_tokens=int(m["output_tokens"]),
                reasoning_tokens=int(m["reasoning_tokens"]),
                tool_calls=int(m["tool_calls"]),
                latency_ms=float(m["latency_ms"]),
                cost=float(m["cost"]),
            )
        )
    return sort_totals(totals)


def admit_key_request(
    conn: Connection, api_key_id: str, at: KeyWindows, quota: KeyQuota
) -> KeyCounts:
    found = {
        row.window: row
        for row in conn.execute(
            select(windows.c.window, windows.c.requests, windows.c.tokens, windows.c.cost).where(
                windows.c.api_key_id == api_key_id, _in_windows(at)
            )
        ).all()
    }
    minute, day, month = (found.get(name) for name in ("minute", "day", "month"))
    counts = KeyCounts(
        requests=minute.requests if minute else 0,
        tokens=minute.tokens if minute else 0,
        cost_today=day.cost if day else 0.0,
        cost_this_month=month.cost if month else 0.0,
    )
    refused = refusal_before_counting(counts, quota)
    if refused is not None:
        return dataclasses.replace(counts, refused=refused)
    limit = quota.requests_per_minute
    if limit is not None and limit <= 0:
        return dataclasses.replace(counts, refused="requests")
    upsert = _insert(conn).values(
        api_key_id=api_key_id, window="minute", start=at.minute, requests=1, tokens=0, cost=0.0
    )
    stmt = upsert.on_conflict_do_update(
        index_elements=[windows.c.api_key_id, windows.c.window, windows.c.start],
        set_={"requests": windows.c.requests + 1},
        where=None if limit is None else windows.c.requests < limit,
    ).returning(windows.c.requests)
    counted = conn.execute(stmt).first()
    if counted is None:
        return dataclasses.replace(counts, refused="requests")
    return dataclasses.replace(counts, requests=int(counted.requests))


def add_key_usage(
    conn: Connection, api_key_id: str, at: KeyWindows, tokens: int, cost: float
) -> None:
    for name, start in at.starts().items():
        upsert = _insert(conn).values(
            api_key_id=api_key_id, window=name, start=start, requests=0, tokens=tokens, cost=cost
        )
        conn.execute(
            upsert.on_conflict_do_update(
                index_elements=[windows.c.api_key_id, windows.c.window, windows.c.start],
                set_={"tokens": windows.c.tokens + tokens, "cost": windows.c.cost + cost},
            )
        )


def prune_key_windows(conn: Connection, before: dict[WindowName, float]) -> int:
    old = or_(
        *(
            and_(windows.c.window == name, windows.c.start < cutoff)
            for name, cutoff in before.items()
        )
    )
    return conn.execute(delete(windows).where(old)).rowcount


def _in_windows(at: KeyWindows) -> ColumnElement[bool]:
    return or_(
        *(
            and_(windows.c.window == name, windows.c.start == start)
            for name, start in at.starts().items()
        )
    )


def _insert(conn: Connection) -> Any:
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(windows)


class SqlUsageLedger(UsageLedger):
    """`SqlStore`'s usage methods: each one call into the database."""

    _db: Database

    async def record_usage(self, records: list[UsageRecord]) -> None:
        await self._db.write(record_usage, records)

    async def summarize_usage(self, query: UsageQuery) -> list[UsageTotals]:
        return await self._db.read(summarize_usage, query)

    async def admit_key_request(
        self, api_key_id: str, windows: KeyWindows, quota: KeyQuota
    ) -> KeyCounts:
        return await self._db.write(admit_key_request, api_key_id, windows, quota)

    async def add_key_usage(
        self, api_key_id: str, windows: KeyWindows, tokens: int, cost: float
    ) -> None:
        await self._db.write(add_key_usage, api_key_id, windows, tokens, cost)

    async def prune_key_windows(self, before: dict[WindowName, float]) -> int:
        return await self._db.write(prune_key_windows, before)
