"""The usage contract (storage/usage.py), on every backend: the ledger and key counters."""

from __future__ import annotations

import asyncio
import dataclasses

from threadline.storage.base import Store
from threadline.storage.usage import KeyCounts, KeyQuota, KeyWindows, UsageQuery, UsageRecord

DAY = 86_400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
WINDOWS = KeyWindows(minute=T0, day=T0, month=T0)


def a_row(**changes: object) -> UsageRecord:
    row = UsageRecord(
        tenant="t1",
        api_key_id="key_a",
        end_user="u1",
        kind="response",
        model="gpt-4o",
        deployment="gpt-4o",
        object_id="resp_1",
        input_tokens=100,
        cached_tokens=10,
        output_tokens=20,
        reasoning_tokens=5,
        tool_calls=1,
        latency_ms=250.0,
        cost=0.5,
        created_at=T0 + 10,
    )
    return dataclasses.replace(row, **changes)  # type: ignore[arg-type]


async def test_the_ledger_adds_up_rows_by_bucket_and_group(store: Store) -> None:
    await store.record_usage(
        [
            a_row(),
            a_row(model="gpt-4o-mini", cost=0.25),
            a_row(created_at=T0 + DAY + 5, input_tokens=7, cost=0.125),
            a_row(tenant="t2", cost=9.0),
        ]
    )
    query = UsageQuery(T0, T0 + 2 * DAY, "t1", DAY, ("model",))
    totals = await store.summarize_usage(query)
    assert [(t.bucket_start, t.group, t.requests, t.cost) for t in totals] == [
        (T0, {"model": "gpt-4o"}, 1, 0.5),
        (T0, {"model": "gpt-4o-mini"}, 1, 0.25),
        (T0 + DAY, {"model": "gpt-4o"}, 1, 0.125),
    ]
    day_one = totals[0]
    assert (day_one.input_tokens, day_one.cached_tokens, day_one.output_tokens) == (100, 10, 20)
    assert (day_one.reasoning_tokens, day_one.tool_calls, day_one.latency_ms) == (5, 1, 250.0)


async def test_the_ledger_without_buckets_or_groups_is_one_total_of_every_tenant(
    store: Store,
) -> None:
    await store.record_usage([a_row(), a_row(tenant="t2", end_user=None, cost=1.5)])
    (total,) = await store.summarize_usage(UsageQuery(T0, T0 + DAY))
    assert (total.bucket_start, total.group, total.requests, total.cost) == (T0, {}, 2, 2.0)


async def test_the_ledger_filters_by_dimension_and_time(store: Store) -> None:
    await store.record_usage(
        [
            a_row(),
            a_row(kind="embedding", output_tokens=0),
            a_row(end_user="u2"),
            a_row(created_at=T0 - 1),
        ]
    )
    query = UsageQuery(T0, T0 + DAY, only=(("kind", ("response",)), ("end_user", ("u1",))))
    (total,) = await store.summarize_usage(query)
    assert total.requests == 1
    assert await store.summarize_usage(UsageQuery(T0 + DAY, T0 + 2 * DAY)) == []


async def test_a_key_is_admitted_up_to_its_requests_per_minute(store: Store) -> None:
    quota = KeyQuota(requests_per_minute=2)
    first = await store.admit_key_request("key_a", WINDOWS, quota)
    second = await store.admit_key_request("key_a", WINDOWS, quota)
    third = await store.admit_key_request("key_a", WINDOWS, quota)
    assert (first.refused, first.requests) == (None, 1)
    assert (second.refused, second.requests) == (None, 2)
    assert (third.refused, third.requests) == ("requests", 2)
    next_minute = dataclasses.replace(WINDOWS, minute=T0 + 60)
    assert (await store.admit_key_request("key_a", next_minute, quota)).refused is None
    other_key = await store.admit_key_request("key_b", WINDOWS, quota)
    assert (other_key.refused, other_key.requests) == (None, 1)


async def test_concurrent_requests_of_one_key_are_admitted_exactly_up_to_the_limit(
    store: Store,
) -> None:
    quota = KeyQuota(requests_per_minute=5)
    counts = await asyncio.gather(
        *(store.admit_key_request("key_a", WINDOWS, quota) for _ in range(20))
    )
    admitted = sorted(c.requests for c in counts if c.refused is None)
    assert admitted == [1, 2, 3, 4, 5]


async def test_tokens_and_spend_refuse_a_key_once_reached(store: Store) -> None:
    await store.add_key_usage("key_a", WINDOWS, tokens=1_000, cost=2.5)
    counts = await store.admit_key_request("key_a", WINDOWS, KeyQuota())
    assert (counts.tokens, counts.cost_today, counts.cost_this_month) == (1_000, 2.5, 2.5)
    tokens = await store.admit_key_request("key_a", WINDOWS, KeyQuota(tokens_per_minute=1_000))
    daily = await store.admit_key_request("key_a", WINDOWS, KeyQuota(daily_budget=2.5))
    monthly = await store.admit_key_request("key_a", WINDOWS, KeyQuota(monthly_budget=2.0))
    roomy = await store.admit_key_request("key_a", WINDOWS, KeyQuota(daily_budget=3.0))
    assert (tokens.refused, daily.refused, monthly.refused, roomy.refused) == (
        "tokens",
        "daily_budget",
        "monthly_budget",
        None,
    )
    next_day = KeyWindows(minute=T0 + DAY, day=T0 + DAY, month=T0)
    fresh = await store.admit_key_request("key_a", next_day, KeyQuota(daily_budget=2.5))
    assert (fresh.refused, fresh.cost_today, fresh.cost_this_month) == (None, 0.0, 2.5)


async def test_pruning_drops_only_windows_older_than_their_cutoff(store: Store) -> None:
    await store.add_key_usage("key_a", WINDOWS, tokens=10, cost=1.0)
    later = KeyWindows(minute=T0 + 600, day=T0, month=T0)
    await store.add_key_usage("key_a", later, tokens=5, cost=1.0)
    pruned = await store.prune_key_windows({"minute": T0 + 600, "day": T0, "month": T0})
    assert pruned == 1  # the first minute; day and month start at their cutoffs
    counts = await store.admit_key_request("key_a", later, KeyQuota())
    assert (counts.tokens, counts.cost_today) == (5, 2.0)


async def test_a_key_without_a_requests_limit_is_read_not_counted(store: Store) -> None:
    budget_only = KeyQuota(daily_budget=10.0)
    first = await store.admit_key_request("key_a", WINDOWS, budget_only)
    again = await store.admit_key_request("key_a", WINDOWS, KeyQuota(requests_per_minute=1))
    assert (first.refused, first.requests) == (None, 0)
    assert (again.refused, again.requests) == (None, 1)


async def test_usage_not_yet_written_counts_toward_the_limits(store: Store) -> None:
    await store.add_key_usage("key_a", WINDOWS, tokens=60, cost=1.5)
    unwritten = KeyCounts(tokens=40, cost_today=1.0, cost_this_month=1.0)
    quota = KeyQuota(tokens_per_minute=100)
    refused = await store.admit_key_request("key_a", WINDOWS, quota, unwritten)
    assert (refused.refused, refused.tokens, refused.cost_today) == ("tokens", 100, 2.5)
    within = await store.admit_key_request("key_a", WINDOWS, KeyQuota(daily_budget=3.0), unwritten)
    assert within.refused is None
