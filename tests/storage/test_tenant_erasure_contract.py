"""Erasing a whole tenant (engine/tenant_erasure.py), on every backend: everything it stored
goes, its keys are revoked, its usage stays without names, another tenant is untouched, and
legal holds keep what they hold."""

from __future__ import annotations

from pathlib import Path

from tests.storage.test_erasure_contract import ledger_row, turn
from tests.storage.test_store_contract import A, B, conversation
from threadline.engine.api_keys import create_key
from threadline.engine.tenant_erasure import TenantErasure
from threadline.ids import new_id
from threadline.storage.audit import AuditQuery
from threadline.storage.base import CompletionFilter, Store, StoredCompletion
from threadline.storage.files import FileRecord
from threadline.storage.holds import LegalHold
from threadline.storage.local_files import LocalFileStore
from threadline.storage.usage import UsageQuery
from threadline.storage.vector_stores import VectorStoreRecord
from threadline.storage.webhook_records import WebhookEndpointRecord


async def fill(store: Store, files: LocalFileStore, tenant: str) -> dict[str, str]:
    """One of every kind of object the tenant can store; their ids by kind."""
    made = {
        "response": await turn(store, {"user": "ann"}, tenant=tenant),
        "conversation": await conversation(store, "seed", tenant=tenant),
    }
    made["turn"] = await turn(store, {}, tenant=tenant, conversation_id=made["conversation"])
    completion = StoredCompletion(f"chatcmpl-{tenant}", tenant, 1.0, "m", {}, {}, [])
    await store.save_completion(completion)
    made["vector_store"] = f"vs_{tenant}"
    await store.create_vector_store(
        VectorStoreRecord(made["vector_store"], tenant, "docs", 1.0, 1.0, "e"), []
    )
    made["file"] = "file-" + new_id("f").split("_")[1]
    await files.save(
        FileRecord(made["file"], tenant, "a.txt", 2, 1.0, "user_data", "text/plain"), b"hi"
    )
    endpoint = WebhookEndpointRecord(f"we_{tenant}", tenant, "n", "https://x", [], "s", "h", 1, 1)
    await store.create_webhook_endpoint(endpoint)
    await store.record_usage([ledger_row("ann", tenant)])
    await create_key(store, f"key-{tenant}", tenant)
    return made


async def test_erasing_a_tenant_deletes_all_it_stored_and_nothing_of_another(
    store: Store, tmp_path: Path
) -> None:
    files = LocalFileStore(tmp_path)
    mine = await fill(store, files, A)
    theirs = await fill(store, files, B)
    erasure = TenantErasure(store, files)

    counted = await erasure.erase_tenant(A, "operator:test", dry_run=True)
    assert (counted.responses, counted.conversations, counted.chat_completions) == (1, 1, 1)
    assert (counted.files, counted.vector_stores, counted.webhook_endpoints) == (1, 1, 1)
    assert (counted.api_keys_revoked, counted.usage_end_users_anonymized) == (1, 1)
    assert await store.get_response(A, mine["response"]) is not None  # a dry run deletes nothing

    receipt = await erasure.erase_tenant(A, "operator:test")
    assert (receipt.responses, receipt.conversations, receipt.files) == (1, 1, 1)
    assert await store.get_response(A, mine["response"]) is None
    assert await store.get_response(A, mine["turn"]) is None
    assert await store.get_conversation(A, mine["conversation"]) is None
    page = await store.list_completions(A, CompletionFilter(), after=None, limit=9, order="asc")
    assert page.completions == []
    assert await store.get_vector_store(A, mine["vector_store"]) is None
    assert await files.get(A, mine["file"], 2.0) is None
    assert await store.list_webhook_endpoints(A) == []
    assert all(k.revoked_at is not None for k in await store.list_api_keys() if k.tenant == A)
    names = await store.summarize_usage(UsageQuery(0, 100, A, group_by=("end_user",)))
    assert [(t.group["end_user"], t.requests) for t in names] == [(None, 1)]
    (event,) = (await store.list_audit(AuditQuery(A, actions=("tenant.erased",)))).events
    assert event.details["conversations"] == 1

    assert await store.get_response(B, theirs["response"]) is not None
    assert await store.get_conversation(B, theirs["conversation"]) is not None
    assert await files.get(B, theirs["file"], 2.0) is not None
    assert all(k.revoked_at is None for k in await store.list_api_keys() if k.tenant == B)

    again = await erasure.erase_tenant(A, "operator:test")
    assert (again.responses, again.conversations, again.files) == (0, 0, 0)


async def test_legal_holds_keep_what_they_hold_when_a_tenant_is_erased(
    store: Store, tmp_path: Path
) -> None:
    files = LocalFileStore(tmp_path)
    mine = await fill(store, files, A)
    await store.place_hold(LegalHold(A, "conversation", mine["conversation"], "case", 1.0))
    receipt = await TenantErasure(store, files).erase_tenant(A, "operator:test")
    assert receipt.held_conversations == 1
    assert await store.get_conversation(A, mine["conversation"]) is not None
    assert await store.get_response(A, mine["response"]) is None

    await store.place_hold(LegalHold(A, "tenant", "", "case", 1.0))
    other = await turn(store, {}, tenant=A)
    held = await TenantErasure(store, files).erase_tenant(A, "operator:test")
    assert held.held == "tenant"
    assert await store.get_response(A, other) is not None
