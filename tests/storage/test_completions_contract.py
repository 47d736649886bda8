"""The stored chat completions part of the storage contract, on every backend: a completion is
its tenant's, kept as it was given, listed by `created_at` then id in either order (filtered by
model and metadata, paged with `after`), relabelled, deleted, and swept by age."""

from __future__ import annotations

import pytest

from tests.storage.test_store_contract import A, B
from threadline.errors import Conflict, InvalidRequest
from threadline.storage.base import CompletionFilter, Store, StoredCompletion, TenantScope


def completion(
    tenant: str = A,
    created_at: float = 100.0,
    model: str = "gpt-x",
    metadata: dict[str, str] | None = None,
    completion_id: str | None = None,
) -> StoredCompletion:
    cid = completion_id or f"chatcmpl-{tenant}-{created_at}-{model}"
    return StoredCompletion(
        id=cid,
        tenant=tenant,
        created_at=created_at,
        model=model,
        metadata=metadata or {},
        completion={"id": cid, "object": "chat.completion", "choices": [{"index": 0}]},
        messages=[{"role": "user", "content": [{"type": "text", "text": 'hé "quoted"'}]}],
    )


async def test_a_completion_is_its_tenants_and_kept_as_given(store: Store) -> None:
    mine = completion(metadata={"k": "v"})
    await store.save_completion(mine)
    assert await store.get_completion(A, mine.id) == mine
    assert await store.get_completion(B, mine.id) is None
    assert await store.tenant_has_data(A)
    with pytest.raises(Conflict):
        await store.save_completion(mine)


async def test_completions_are_listed_in_order_and_paged(store: Store) -> None:
    made = [completion(created_at=float(t)) for t in (300, 100, 200)]
    tie = completion(created_at=200.0, completion_id="chatcmpl-a-tie")
    for c in [*made, tie, completion(tenant=B, created_at=150.0)]:
        await store.save_completion(c)
    every = CompletionFilter()
    oldest_first = await store.list_completions(A, every, after=None, limit=10, order="asc")
    ids = [c.id for c in oldest_first.completions]
    assert ids == [made[1].id, tie.id, made[2].id, made[0].id] and not oldest_first.has_more
    newest = await store.list_completions(A, every, after=None, limit=10, order="desc")
    assert [c.id for c in newest.completions] == list(reversed(ids))
    first = await store.list_completions(A, every, after=None, limit=2, order="asc")
    assert [c.id for c in first.completions] == ids[:2] and first.has_more
    rest = await store.list_completions(A, every, after=ids[1], limit=2, order="asc")
    assert [c.id for c in rest.completions] == ids[2:] and not rest.has_more
    back = await store.list_completions(A, every, after=ids[2], limit=5, order="desc")
    assert [c.id for c in back.completions] == [ids[1], ids[0]]
    with pytest.raises(InvalidRequest) as unknown:
        await store.list_completions(B, every, after=ids[0], limit=2, order="asc")
    assert unknown.value.param == "after"


async def test_completions_are_filtered_by_model_and_metadata(store: Store) -> None:
    tagged = completion(model="m1", metadata={"team": "a", "odd key \"'": "x"})
    other = completion(created_at=200.0, model="m1", metadata={"team": "b"})
    elsewhere = completion(created_at=300.0, model="m2", metadata={"team": "a"})
    for c in (tagged, other, elsewhere):
        await store.save_completion(c)

    async def listed(flt: CompletionFilter) -> list[str]:
        page = await store.list_completions(A, flt, after=None, limit=10, order="asc")
        return [c.id for c in page.completions]

    assert await listed(CompletionFilter(model="m1")) == [tagged.id, other.id]
    assert await listed(CompletionFilter(metadata={"team": "a"})) == [tagged.id, elsewhere.id]
    both = CompletionFilter(model="m1", metadata={"team": "a", "odd key \"'": "x"})
    assert await listed(both) == [tagged.id]
    assert await listed(CompletionFilter(metadata={"team": "c"})) == []


async def test_a_completions_metadata_is_replaced_and_it_is_deleted(store: Store) -> None:
    mine = completion(metadata={"old": "1"})
    await store.save_completion(mine)
    assert await store.update_completion_metadata(B, mine.id, {"x": "y"}) is None
    updated = await store.update_completion_metadata(A, mine.id, {"new": "2"})
    assert updated is not None and updated.metadata == {"new": "2"}
    assert updated.completion == mine.completion
    assert not await store.delete_completion(B, mine.id)
    assert await store.delete_completion(A, mine.id)
    assert await store.get_completion(A, mine.id) is None
    assert not await store.delete_completion(A, mine.id)


async def test_old_completions_are_swept(store: Store) -> None:
    old, new = completion(created_at=100.0), completion(tenant=B, created_at=500.0)
    await store.save_completion(old)
    await store.save_completion(new)
    assert await store.delete_completions_created_before(200.0) == 1
    assert await store.get_completion(A, old.id) is None
    assert await store.get_completion(B, new.id) == new


async def test_a_completion_sweep_reaches_only_the_tenants_in_its_scope(store: Store) -> None:
    mine, theirs = completion(created_at=10.0), completion(tenant=B, created_at=10.0)
    for c in (mine, theirs):
        await store.save_completion(c)
    assert await store.delete_completions_created_before(60.0, TenantScope(only=B)) == 1
    assert await store.get_completion(A, mine.id) == mine
    assert (
        await store.delete_completions_created_before(60.0, TenantScope(excluding=frozenset({A})))
        == 0
    )
