"""What the context cache counts against its bound (storage/sql/context_cache.py): each item
once, for as long as a cached entry holds it, plus each entry's tuple; so a long chain, whose
every entry is the whole history, leaves room for other contexts."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.storage.test_store_contract import A, save, texts, url_of
from threadline.storage.sql import SqlStore
from threadline.storage.sql.context_cache import (
    POINTER_BYTES,
    CachedContext,
    ContextCache,
    Segment,
)


def read_from_database(size: int, items: int) -> CachedContext:
    return CachedContext(tuple({"n": n} for n in range(items)), 1, None, Segment(size))


def extended(before: CachedContext, size: int, items: int = 2) -> CachedContext:
    own = tuple({"n": n} for n in range(items))
    return CachedContext(before.items + own, 1, None, before.segment.extended(size))


def counted(cache: ContextCache, entries: dict[str, CachedContext]) -> int:
    """What the bound should count: every distinct segment a cached entry reaches, once."""
    segments: dict[int, Segment] = {}
    for entry in entries.values():
        segment: Segment | None = entry.segment
        while segment is not None:
            segments[id(segment)] = segment
            segment = segment.base
    pointers = sum(POINTER_BYTES * len(entry.items) for entry in entries.values())
    return pointers + sum(segment.size for segment in segments.values())


def test_a_chain_counts_each_turns_items_once() -> None:
    cache = ContextCache(max_bytes=10**9)
    entry = read_from_database(1_000, 10)
    cache.put(("chain", A, "r0"), entry)
    for n in range(1, 200):
        entry = extended(entry, 100)
        cache.put(("chain", A, f"r{n}"), entry)
    pointers = POINTER_BYTES * sum(10 + 2 * n for n in range(200))
    assert cache.size == 1_000 + 199 * 100 + pointers
    # Counted whole per entry, the same chain would have been 200 histories' bytes.
    assert cache.size < sum(1_000 + 100 * n for n in range(200)) / 5


def test_evicting_an_early_entry_frees_only_its_tuple_while_later_ones_hold_its_items() -> None:
    cache = ContextCache(max_bytes=10**9)
    first = read_from_database(1_000, 10)
    second = extended(first, 100)
    cache.put(("chain", A, "r0"), first)
    cache.put(("chain", A, "r1"), second)
    before = cache.size
    cache.drop(("chain", A, "r0"))
    assert cache.size == before - POINTER_BYTES * 10
    cache.drop(("chain", A, "r1"))
    assert cache.size == 0


def test_a_conversation_replaced_by_its_extension_counts_its_history_once() -> None:
    cache = ContextCache(max_bytes=10**9)
    key = ("conversation", A, "c")
    entry = read_from_database(500, 4)
    cache.put(key, entry)
    for _ in range(50):
        entry = extended(entry, 50)
        cache.put(key, entry)
    assert cache.size == 500 + 50 * 50 + POINTER_BYTES * len(entry.items)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 30), st.integers(0, 400)), max_size=80))
def test_the_count_is_exact_and_the_bound_holds_whatever_is_put_and_dropped(
    steps: list[tuple[int, int, int]],
) -> None:
    bound = 4_000
    cache = ContextCache(max_bytes=bound)
    made: list[CachedContext] = []
    for action, pick, size in steps:
        key = ("chain", A, f"r{pick % 8}")
        if action == 0 or not made:
            made.append(read_from_database(size, 1 + size % 5))
            cache.put(key, made[-1])
        elif action in (1, 2):
            made.append(extended(made[pick % len(made)], size, items=1 + size % 3))
            cache.put(key, made[-1])
        else:
            cache.drop(key)
        live = {k: e for k in [("chain", A, f"r{n}") for n in range(8)] if (e := cache.get(k))}
        assert cache.size == counted(cache, live)
        assert cache.size <= bound
    for n in range(8):
        cache.drop(("chain", A, f"r{n}"))
    assert cache.size == 0


async def test_forks_anywhere_in_a_long_chain_are_served_from_memory(sql_store: SqlStore) -> None:
    # 300 turns of ~600 bytes each: counted whole per entry, a 1 MiB bound kept the last few.
    store = SqlStore(url_of(sql_store), context_cache_bytes=1024 * 1024)
    try:
        words = "word " * 60
        ids = [await save(store, [f"q0 {words}"], ["a0"])]
        first = await store.load_chain(A, ids[0])
        assert first is not None
        for n in range(1, 300):
            ids.append(await save(store, [f"q{n} {words}"], [f"a{n}"], previous=ids[-1]))
        for n in random.Random(7).sample(range(300), 12):
            again = await store.load_chain(A, ids[n])
            assert again is not None and len(again) == 2 * (n + 1)
            assert texts(again)[-1] == f"a{n}"
            # The same objects as the first read handed out: served from memory.
            assert again[0] is first[0]
    finally:
        await store.close()
