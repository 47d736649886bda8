"""Listing a tenant's responses newest first (storage/response_listing.py), on every backend."""

from __future__ import annotations

from tests.storage.test_store_contract import A, B
from threadline.ids import new_id
from threadline.storage.base import ResponseRecord, Store, TurnRecord
from threadline.storage.response_listing import ResponseFilter

ANY = ResponseFilter()


async def stored(
    store: Store, created_at: float, *, status: str = "completed", model: str = "m", tenant: str = A
) -> str:
    record = ResponseRecord(new_id("resp"), tenant, created_at, status, model, {})
    await store.save_turn(TurnRecord(record, [], []))
    return record.id


async def test_responses_are_listed_newest_first_a_page_at_a_time(store: Store) -> None:
    oldest, middle, newest = [await stored(store, t) for t in (1000.0, 2000.0, 3000.0)]
    await stored(store, 4000.0, tenant=B)

    first = await store.list_responses(A, ANY, after=None, limit=2)
    assert [r.id for r in first.responses] == [newest, middle]
    assert first.has_more
    second = await store.list_responses(A, ANY, after=middle, limit=2)
    assert [r.id for r in second.responses] == [oldest]
    assert not second.has_more


async def test_responses_created_at_the_same_moment_are_each_listed_once(store: Store) -> None:
    made = {await stored(store, 1000.0) for _ in range(5)}
    seen: list[str] = []
    after = None
    while True:
        page = await store.list_responses(A, ANY, after=after, limit=2)
        seen += [r.id for r in page.responses]
        if not page.has_more:
            break
        after = page.responses[-1].id
    assert sorted(seen) == sorted(made)


async def test_status_and_model_narrow_the_list(store: Store) -> None:
    failed = await stored(store, 1000.0, status="failed", model="big")
    await stored(store, 2000.0, status="completed", model="big")
    await stored(store, 3000.0, status="failed", model="small")

    only = await store.list_responses(A, ResponseFilter("failed", "big"), after=None, limit=10)
    assert [r.id for r in only.responses] == [failed]
    assert only.responses[0].status == "failed"


async def test_a_cursor_of_another_tenant_or_a_deleted_response_lists_nothing(
    store: Store,
) -> None:
    await stored(store, 1000.0)
    theirs = await stored(store, 2000.0, tenant=B)
    assert (await store.list_responses(A, ANY, after=theirs, limit=10)).responses == []
    assert (await store.list_responses(A, ANY, after="resp_gone", limit=10)).responses == []
