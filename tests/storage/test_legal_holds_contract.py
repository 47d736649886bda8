"""Legal holds (storage/holds.py, engine/holds.py), on every backend: kept by erasure and by
the retention sweep until released."""

from __future__ import annotations

from tests.storage.test_erasure_contract import turn
from tests.storage.test_store_contract import A, B, conversation
from threadline.engine.end_users import EndUser
from threadline.engine.erasure import Erasure
from threadline.engine.retention import RetentionSweeper
from threadline.storage.base import CompletionFilter, Store, StoredCompletion
from threadline.storage.holds import LegalHold


def hold(kind: str, target: str = "", tenant: str = A, reason: str = "case 1") -> LegalHold:
    return LegalHold(tenant, kind, target, reason, 5.0)  # type: ignore[arg-type]


async def test_holds_are_placed_listed_and_released(store: Store) -> None:
    await store.place_hold(hold("conversation", "conv_1"))
    await store.place_hold(hold("end_user", "user:ann"))
    await store.place_hold(hold("tenant", tenant=B))
    await store.place_hold(hold("conversation", "conv_1", reason="case 2"))  # a new reason
    mine = await store.list_holds(A)
    assert [(h.kind, h.target, h.reason) for h in mine] == [
        ("conversation", "conv_1", "case 2"),
        ("end_user", "user:ann", "case 1"),
    ]
    assert len(await store.list_holds()) == 3
    assert await store.release_hold(A, "conversation", "conv_1")
    assert not await store.release_hold(A, "conversation", "conv_1")
    assert [h.kind for h in await store.list_holds(A)] == ["end_user"]


async def test_erasure_keeps_what_a_hold_keeps_and_says_so(store: Store) -> None:
    held_thread = await conversation(store, "seed")
    await turn(store, {"user": "ann"}, conversation_id=held_thread)
    free_thread = await conversation(store, "seed")
    await turn(store, {"user": "ann"}, conversation_id=free_thread)
    shared = await conversation(store, "seed")  # bob is held, and ann talked there too
    await turn(store, {"user": "ann"}, conversation_id=shared)
    await turn(store, {"user": "bob"}, conversation_id=shared)
    await store.place_hold(hold("conversation", held_thread))
    await store.place_hold(hold("end_user", "user:bob"))

    receipt = await Erasure(store).erase_end_user(A, EndUser("user", "ann"))
    assert receipt.conversation_ids == [free_thread]
    assert receipt.held_conversation_ids == sorted([held_thread, shared])
    assert (receipt.responses, receipt.held_responses) == (1, 2)
    assert await store.get_conversation(A, free_thread) is None
    assert await store.get_conversation(A, held_thread) is not None
    assert await store.get_conversation(A, shared) is not None

    refused = await Erasure(store).erase_end_user(A, EndUser("user", "bob"))
    assert (refused.held, refused.responses) == ("end_user", 0)
    await store.place_hold(hold("tenant"))
    whole = await Erasure(store).erase_end_user(A, EndUser("user", "ann"))
    assert whole.held == "tenant"
    assert await store.get_conversation(A, held_thread) is not None


async def test_retention_sweeps_around_holds(store: Store) -> None:
    old = await turn(store, {"user": "ann"})  # created at 1000
    kept_user = await turn(store, {"user": "bob"})
    thread = await conversation(store, "seed")
    in_thread = await turn(store, {"user": "ann"}, conversation_id=thread)
    elsewhere = await turn(store, {"user": "ann"}, tenant=B)
    for n, customer in enumerate(("c-1", "c-2")):
        await store.save_completion(
            StoredCompletion(f"chatcmpl-{n}", A, 1000.0, "m", {"customer": customer}, {}, [])
        )
    await store.place_hold(hold("end_user", "user:bob"))
    await store.place_hold(hold("end_user", "metadata:customer=c-2"))
    await store.place_hold(hold("conversation", thread))
    await store.place_hold(hold("tenant", tenant=B))

    sweeper = RetentionSweeper(store, response_retention=100.0, idle_ttl=None, clock=lambda: 5000.0)
    report = await sweeper.sweep_once()
    assert (report.deleted_responses, report.deleted_completions, report.held) == (1, 1, 3)
    assert await store.get_response(A, old) is None
    for kept in (kept_user, in_thread):
        assert await store.get_response(A, kept) is not None
    assert await store.get_response(B, elsewhere) is not None
    left = await store.list_completions(A, CompletionFilter(), after=None, limit=10, order="asc")
    assert [c.id for c in left.completions] == ["chatcmpl-1"]

    await store.release_hold(A, "end_user", "user:bob")
    assert (await sweeper.sweep_once()).deleted_responses == 1
    assert await store.get_response(A, kept_user) is None
