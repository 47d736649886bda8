"""The usage half of the SQL store (storage/usage.py): the ledger and the per-key windows, each
operation a function of a sync `Connection` that databases.py runs in one call.

Admission is one conditional upsert (`… ON CONFLICT DO UPDATE … WHERE requests < limit
RETURNING`), which both SQLite and PostgreSQL apply atomically per row: concurrent requests of
one key, in any process, are admitted at most `requests_per_minute` times a minute."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Double,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from threadline.storage.sql.databases import Database
from threadline.storage.sql.driver_statements import DriverStatement
from threadline.storage.sql.tables import key_usage_windows as windows
from threadline.storage.sql.tables import usage_records
from threadline.storage.usage import (
    NO_COUNTS,
    SUMMED,
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
    totals_of,
    with_unwritten,
)

_LEDGER_FIELDS = tuple(field.name for field in dataclasses.fields(UsageRecord))
_INSERT_USAGE = DriverStatement(insert(usage_records))


def record_usage(conn: Connection, records: list[UsageRecord]) -> None:
    # `dataclasses.asdict` deep-copies: a third of the cost of a batch of rows.
    rows = [{name: getattr(r, name) for name in _LEDGER_FIELDS} for r in records]
    if rows:
        _INSERT_USAGE.run(conn, rows)


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
        *(func.sum(c[name]).label(name) for name in SUMMED),
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
        m = dict(row._mapping)
        if not m["requests"]:
            continue  # an aggregate without GROUP BY over no rows
        start = query.start + float(m["bucket"] or 0) * (query.bucket_seconds or 0.0)
        totals.append(
            totals_of(start, {name: m[name] for name in query.group_by}, m["requests"], m)
        )
    return sort_totals(totals)


def admit_key_request(
    conn: Connection, api_key_id: str, at: KeyWindows, quota: KeyQuota, unwritten: KeyCounts
) -> KeyCounts:
    params = {"key": api_key_id, "minute": at.minute, "day": at.day, "month": at.month}
    found = {row.window: row for row in conn.execute(_READ_WINDOWS, params).all()}
    minute, day, month = (found.get(name) for name in ("minute", "day", "month"))
    counts = with_unwritten(
        KeyCounts(
            requests=minute.requests if minute else 0,
            tokens=minute.tokens if minute else 0,
            cost_today=day.cost if day else 0.0,
            cost_this_month=month.cost if month else 0.0,
        ),
        unwritten,
    )
    refused = refusal_before_counting(counts, quota)
    if refused is not None:
        return dataclasses.replace(counts, refused=refused)
    limit = quota.requests_per_minute
    if limit is None:
        return counts
    if limit <= 0:
        return dataclasses.replace(counts, refused="requests")
    statement = _statements(conn).count_request
    counted = conn.execute(statement, {**params, "limit": limit}).first()
    if counted is None:
        return dataclasses.replace(counts, refused="requests")
    return dataclasses.replace(counts, requests=int(counted.requests))


def add_key_usage(
    conn: Connection, api_key_id: str, at: KeyWindows, tokens: int, cost: float
) -> None:
    rows = [
        {"key": api_key_id, "window": name, "start": start, "tokens": tokens, "cost": cost}
        for name, start in at.starts().items()
    ]
    conn.execute(_statements(conn).add_usage, rows)


def anonymize_usage(conn: Connection, tenant: str, end_user: str, dry_run: bool) -> int:
    c = usage_records.c
    mine = (c.tenant == tenant, c.end_user == end_user)
    if dry_run:
        return int(conn.scalar(select(func.count()).where(*mine)) or 0)
    return conn.execute(update(usage_records).where(*mine).values(end_user=None)).rowcount


def prune_key_windows(conn: Connection, before: dict[WindowName, float]) -> int:
    old = or_(
        *(and_(windows.c.window == n, windows.c.start < cutoff) for n, cutoff in before.items())
    )
    return conn.execute(delete(windows).where(old)).rowcount


# Admission runs on every request of a metered key: its statements are built once (building
# them per call cost more CPU than running them).
_READ_WINDOWS = select(
    windows.c.window, windows.c.requests, windows.c.tokens, windows.c.cost
).where(
    windows.c.api_key_id == bindparam("key", type_=String),
    or_(
        *(
            and_(windows.c.window == name, windows.c.start == bindparam(name, type_=Double))
            for name in ("minute", "day", "month")
        )
    ),
)


@dataclass(frozen=True, slots=True)
class _Upserts:
    count_request: Any
    add_usage: Any


def _upserts(dialect: Any) -> _Upserts:
    key = [windows.c.api_key_id, windows.c.window, windows.c.start]
    first_request = dialect.insert(windows).values(
        api_key_id=bindparam("key", type_=String),
        window="minute",
        start=bindparam("minute", type_=Double),
        requests=1,
        tokens=0,
        cost=0.0,
    )
    count_request = first_request.on_conflict_do_update(
        index_elements=key,
        set_={"requests": windows.c.requests + 1},
        where=windows.c.requests < bindparam("limit", type_=BigInteger),
    ).returning(windows.c.requests)
    usage = dialect.insert(windows).values(
        api_key_id=bindparam("key", type_=String),
        window=bindparam("window", type_=String),
        start=bindparam("start", type_=Double),
        requests=0,
        tokens=bindparam("tokens", type_=BigInteger),
        cost=bindparam("cost", type_=Double),
    )
    excluded = usage.excluded
    add_usage = usage.on_conflict_do_update(
        index_elements=key,
        set_={"tokens": windows.c.tokens + excluded.tokens, "cost": windows.c.cost + excluded.cost},
    )
    return _Upserts(count_request, add_usage)


_UPSERTS = {"sqlite": _upserts(sqlite), "postgresql": _upserts(postgresql)}


def _statements(conn: Connection) -> _Upserts:
    return _UPSERTS[conn.dialect.name]


class SqlUsageLedger(UsageLedger):
    """`SqlStore`'s usage methods: each one call into the database."""

    _db: Database

    async def record_usage(self, records: list[UsageRecord]) -> None:
        await self._db.write(record_usage, records)

    async def summarize_usage(self, query: UsageQuery) -> list[UsageTotals]:
        return await self._db.read(summarize_usage, query)

    async def admit_key_request(
        self,
        api_key_id: str,
        windows: KeyWindows,
        quota: KeyQuota,
        unwritten: KeyCounts = NO_COUNTS,
    ) -> KeyCounts:
        # Only a requests limit counts anything: a key without one costs a read, no write.
        run = self._db.read if quota.requests_per_minute is None else self._db.write
        return await run(admit_key_request, api_key_id, windows, quota, unwritten)

    async def add_key_usage(
        self, api_key_id: str, windows: KeyWindows, tokens: int, cost: float
    ) -> None:
        await self._db.write(add_key_usage, api_key_id, windows, tokens, cost)

    async def anonymize_usage(self, tenant: str, end_user: str, *, dry_run: bool = False) -> int:
        run = self._db.read if dry_run else self._db.write
        return await run(anonymize_usage, tenant, end_user, dry_run)

    async def prune_key_windows(self, before: dict[WindowName, float]) -> int:
        return await self._db.write(prune_key_windows, before)
