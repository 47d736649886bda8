"""Erasing one end user's data (engine/erasure.py), on every backend: what goes, what stays,
the dry run, and a second run after the first."""

from __future__ import annotations

from typing import Any

from tests.storage.test_store_contract import A, B, conversation, msg
from threadline.engine.end_users import EndUser
from threadline.engine.erasure import Erasure
from threadline.ids import new_id
from threadline.storage.base import (
    CompletionFilter,
    ResponseRecord,
    Store,
    StoredCompletion,
    TurnRecord,
)
from threadline.storage.usage import UsageQuery, UsageRecord


async def turn(
    store: Store, settings: dict[str, Any], *, tenant: str = A, conversation_id: str | None = None
) -> str:
    record = ResponseRecord(
        id=new_id("resp"),
        tenant=tenant,
        created_at=1000.0,
        status="completed",
        model="m",
        settings=settings,
        conversation_id=conversation_id,
        completed_at=1001.0,
    )
    turn = TurnRecord(
        record, [msg("asked")], [msg("answered")], append_to_conversation=bool(conversation_id)
    )
    await store.save_turn(turn)
    return record.id


def ledger_row(end_user: str, tenant: str = A) -> UsageRecord:
    return UsageRecord(
        tenant, None, end_user, "response", "m", "m", None, 5, 0, 7, 0, 0, 1, 0.5, 10
    )


async def test_erasing_an_end_user_deletes_their_responses_and_conversations_only(
    store: Store,
) -> None:
    mine = await turn(store, {"user": "ann"})
    theirs = await turn(store, {"user": "bob"})
    other_tenant = await turn(store, {"user": "ann"}, tenant=B)
    shared = await conversation(store, "seed")
    await turn(store, {"user": "ann"}, conversation_id=shared)
    kept = await conversation(store, "seed")
    await turn(store, {"user": "bob"}, conversation_id=kept)
    await store.record_usage([ledger_row("ann"), ledger_row("bob"), ledger_row("ann", B)])

    erasure = Erasure(store, batch=2)  # several pages of the scan
    counted = await erasure.erase_end_user(A, EndUser("user", "ann"), dry_run=True)
    assert (counted.responses, counted.conversations, counted.usage_rows_anonymized) == (2, 1, 1)
    assert await store.get_response(A, mine) is not None  # a dry run deletes nothing

    receipt = await erasure.erase_end_user(A, EndUser("user", "ann"))
    assert (receipt.responses, receipt.conversations, receipt.usage_rows_anonymized) == (2, 1, 1)
    assert receipt.conversation_ids == [shared]
    assert await store.get_response(A, mine) is None
    assert await store.get_conversation(A, shared) is None
    assert await store.get_response(A, theirs) is not None
    assert await store.get_conversation(A, kept) is not None
    assert await store.get_response(B, other_tenant) is not None
    users = await store.summarize_usage(UsageQuery(0, 100, A, group_by=("end_user",)))
    assert sorted((t.group["end_user"] or "", t.requests) for t in users) == [("", 1), ("bob", 1)]

    again = await erasure.erase_end_user(A, EndUser("user", "ann"))
    assert (again.responses, again.conversations, again.usage_rows_anonymized) == (0, 0, 0)


async def test_erasing_by_metadata_also_takes_conversations_and_completions_it_names(
    store: Store,
) -> None:
    named = {"metadata": {"customer": "c-7"}}
    await turn(store, named)
    await turn(store, {"safety_identifier": "c-7"})  # another way of naming: not this one
    labelled = await conversation(store, metadata={"customer": "c-7"})
    for n in range(3):
        await store.save_completion(
            StoredCompletion(
                id=f"chatcmpl-{n}",
                tenant=A,
                created_at=float(n),
                model="m",
                metadata={"customer": "c-7" if n < 2 else "c-8"},
                completion={"id": f"chatcmpl-{n}"},
                messages=[],
            )
        )
    who = EndUser("metadata", "c-7", "customer")
    receipt = await Erasure(store).erase_end_user(A, who)
    assert (receipt.responses, receipt.conversations, receipt.chat_completions) == (1, 1, 2)
    assert await store.get_conversation(A, labelled) is None
    left = await store.list_completions(A, CompletionFilter(), after=None, limit=10, order="asc")
    assert [c.id for c in left.completions] == ["chatcmpl-2"]
    by_identifier = await Erasure(store).erase_end_user(
        A, EndUser("safety_identifier", "c-7"), dry_run=True
    )
    assert by_identifier.responses == 1
