"""What the context cache counts against its bound (storage/sql/context_cache.py): each item
once, and each shared history's list once, for as long as a cached entry holds them; so a long
chain, whose every entry is the whole history, leaves room for other contexts."""

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
    return CachedContext.read([{"n": n} for n in range(items)], size, 1)


def extended(before: CachedContext, size: int, items: int = 2) -> CachedContext:
    return before.extended([{"n": n} for n in range(items)], size, None)


def counted(entries: dict[str, CachedContext]) -> int:
    """What the bound should count: every distinct history a cached entry sees, and every
    distinct segment those reach, once."""
    histories = {id(entry.history): entry.history for entry in entries.values()}
    segments: dict[int, Segment] = {}
    for history in histories.values():
        segment: Segment | None = history.end
        while segment is not None:
            segments[id(segment)] = segment
            segment = segment.base
    pointers = sum(POINTER_BYTES * len(history.items) for history in histories.values())
    return pointers + sum(segment.size for segment in segments.values())


def test_a_chain_counts_each_turns_items_once() -> None:
    cache = ContextCache(max_bytes=10**9)
    entry = read_from_database(1_000, 10)
    cache.put(("chain", A, "r0"), entry)
    for n in range(1, 200):
        entry = extended(entry, 100)
        cache.put(("chain", A, f"r{n}"), entry)
    # One list for the whole chain: its entries see first parts of it.
    histories = {id(e.history) for n in range(200) if (e := cache.get(("chain", A, f"r{n}")))}
    assert len(histories) == 1
    assert cache.size == 1_000 + 199 * 100 + POINTER_BYTES * (10 + 2 * 199)
    # Counted whole per entry, the same chain would have been 200 histories' bytes.
    assert cache.size < sum(1_000 + 100 * n for n in range(200)) / 5


def test_an_early_entry_sees_its_own_items_of_the_history_later_turns_extended() -> None:
    first = read_from_database(1_000, 10)
    second = extended(first, 100)
    assert second.history is first.history
    assert len(first.items()) == 10 and second.items()[:10] == first.items()
    mine = first.items()
    mine.append({"n": "a caller's"})
    assert len(first.items()) == 10 and len(second.items()) == 12


def test_a_fork_of_an_earlier_turn_copies_the_part_it_keeps_and_is_counted_apart() -> None:
    cache = ContextCache(max_bytes=10**9)
    first = read_from_database(1_000, 10)
    second = extended(first, 100)
    fork = extended(first, 300, items=3)
    assert fork.history is not first.history and fork.items()[:10] == first.items()
    assert [fork.items()[n] is first.items()[n] for n in range(10)] == [True] * 10
    for n, entry in enumerate((first, second, fork)):
        cache.put(("chain", A, f"r{n}"), entry)
    assert cache.size == 1_000 + 100 + 300 + POINTER_BYTES * (12 + 13)


def test_evicting_an_early_entry_frees_nothing_while_a_later_one_holds_its_history() -> None:
    cache = ContextCache(max_bytes=10**9)
    first = read_from_database(1_000, 10)
    second = extended(first, 100)
    cache.put(("chain", A, "r0"), first)
    cache.put(("chain", A, "r1"), second)
    before = cache.size
    cache.drop(("chain", A, "r0"))
    assert cache.size == before
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
    assert cache.size == 500 + 50 * 50 + POINTER_BYTES * entry.length


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
        assert cache.size == counted(live)
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


async def test_a_long_chain_leaves_room_for_the_contexts_read_before_it(
    sql_store: SqlStore,
) -> None:
    # 400 short turns: ~130 KB of items. As a tuple of the whole history per entry, the chain's
    # entries alone were 1.3 MB of pointers, and the bound evicted every other context.
    store = SqlStore(url_of(sql_store), context_cache_bytes=512 * 1024)
    try:
        other = await save(store, ["another question"], ["another answer"])
        before = await store.load_chain(A, other)
        ids = [await save(store, ["q0"], ["a0"])]
        for n in range(1, 400):
            ids.append(await save(store, [f"q{n}"], [f"a{n}"], previous=ids[-1]))
        whole = await store.load_chain(A, ids[-1])
        assert whole is not None and texts(whole)[-2:] == ["q399", "a399"]
        again = await store.load_chain(A, other)
        assert before is not None and again is not None
        assert again[0] is before[0]  # still served from memory
    finally:
        await store.close()
