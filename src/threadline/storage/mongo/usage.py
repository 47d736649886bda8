"""The usage ledger and key windows of the MongoDB store (storage/usage.py): `usage_records`,
one document per model call, and `key_usage_windows`, `_id` `<key>:<window>:<start>`.

Admission is one `find_one_and_update` with `upsert` whose filter asks `requests < limit`: when
the window is full the filter misses, the upsert collides with the existing `_id`, and the
request is refused; so it holds across processes without a transaction."""

from __future__ import annotations

import dataclasses
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from threadline.storage.mongo.connection import MongoConnection
from threadline.storage.mongo.documents import Document
from threadline.storage.mongo.schema import KEY_USAGE_WINDOWS, USAGE_RECORDS
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


def _window_id(api_key_id: str, name: str, start: float) -> str:
    return f"{api_key_id}:{name}:{start!r}"


class UsageMethods(MongoConnection, UsageLedger):
    async def record_usage(self, records: list[UsageRecord]) -> None:
        if records:
            await self._db[USAGE_RECORDS].insert_many([dataclasses.asdict(r) for r in records])

    async def summarize_usage(self, query: UsageQuery) -> list[UsageTotals]:
        match: Document = {"created_at": {"$gte": query.start, "$lt": query.end}}
        if query.tenant is not None:
            match["tenant"] = query.tenant
        for name, values in query.only:
            match[name] = {"$in": list(values)}
        key: Document = {name: f"${name}" for name in query.group_by}
        if query.bucket_seconds is not None:
            offset = {"$subtract": ["$created_at", query.start]}
            key["bucket"] = {"$floor": {"$divide": [offset, query.bucket_seconds]}}
        group: Document = {"_id": key, "requests": {"$sum": 1}}
        group.update({name: {"$sum": f"${name}"} for name in SUMMED})
        rows = await self.aggregate(self._db[USAGE_RECORDS], [{"$match": match}, {"$group": group}])
        totals = []
        for row in rows:
            if not row["requests"]:
                continue
            ident: dict[str, Any] = row["_id"] or {}
            start = query.start + float(ident.get("bucket") or 0) * (query.bucket_seconds or 0.0)
            totals.append(
                totals_of(
                    start, {name: ident.get(name) for name in query.group_by}, row["requests"], row
                )
            )
        return sort_totals(totals)

    async def admit_key_request(
        self,
        api_key_id: str,
        windows: KeyWindows,
        quota: KeyQuota,
        unwritten: KeyCounts = NO_COUNTS,
    ) -> KeyCounts:
        ids = {_window_id(api_key_id, n, s): n for n, s in windows.starts().items()}
        found = {
            ids[d["_id"]]: d
            async for d in self._db[KEY_USAGE_WINDOWS].find({"_id": {"$in": list(ids)}})
        }
        minute, day, month = (found.get(n, {}) for n in ("minute", "day", "month"))
        counts = KeyCounts(
            requests=minute.get("requests", 0),
            tokens=minute.get("tokens", 0),
            cost_today=day.get("cost", 0.0),
            cost_this_month=month.get("cost", 0.0),
        )
        counts = with_unwritten(counts, unwritten)
        refused = refusal_before_counting(counts, quota)
        if refused is not None:
            return dataclasses.replace(counts, refused=refused)
        limit = quota.requests_per_minute
        if limit is None:
            return counts
        if limit <= 0:
            return dataclasses.replace(counts, refused="requests")
        minute_id = _window_id(api_key_id, "minute", windows.minute)
        query: Document = {"_id": minute_id, "requests": {"$lt": limit}}
        try:
            counted = await self._db[KEY_USAGE_WINDOWS].find_one_and_update(
                query,
                {
                    "$inc": {"requests": 1},
                    "$setOnInsert": _window(api_key_id, "minute", windows.minute, tokens=0),
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return dataclasses.replace(counts, refused="requests")
        requests = 1 if counted is None else int(counted["requests"])
        return dataclasses.replace(counts, requests=requests)

    async def add_key_usage(
        self, api_key_id: str, windows: KeyWindows, tokens: int, cost: float
    ) -> None:
        for name, start in windows.starts().items():
            await self._db[KEY_USAGE_WINDOWS].update_one(
                {"_id": _window_id(api_key_id, name, start)},
                {
                    "$inc": {"tokens": tokens, "cost": cost},
                    "$setOnInsert": {**_window(api_key_id, name, start), "requests": 0},
                },
                upsert=True,
            )

    async def anonymize_usage(self, tenant: str, end_user: str, *, dry_run: bool = False) -> int:
        mine = {"tenant": tenant, "end_user": end_user}
        if dry_run:
            return await self._db[USAGE_RECORDS].count_documents(mine)
        result = await self._db[USAGE_RECORDS].update_many(mine, {"$set": {"end_user": None}})
        return result.modified_count

    async def prune_key_windows(self, before: dict[WindowName, float]) -> int:
        old = [{"window": name, "start": {"$lt": cutoff}} for name, cutoff in before.items()]
        result = await self._db[KEY_USAGE_WINDOWS].delete_many({"$or": old})
        return result.deleted_count


def _window(api_key_id: str, name: str, start: float, **counters: int) -> Document:
    return {"api_key_id": api_key_id, "window": name, "start": start, **counters}
