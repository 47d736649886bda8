"""Full-text search over items (storage/item_search.py), on every backend."""

from __future__ import annotations

from typing import Any

from tests.storage.test_store_contract import A, B, conversation
from threadline.ids import new_id
from threadline.storage.base import ResponseRecord, Store, TurnRecord


def said(text: str, role: str = "user") -> dict[str, Any]:
    part = "input_text" if role == "user" else "output_text"
    return {
        "id": new_id("msg"),
        "type": "message",
        "role": role,
        "content": [{"type": part, "text": text}],
    }


async def stored(
    store: Store, *items: dict[str, Any], tenant: str = A, conversation_id: str | None = None
) -> str:
    record = ResponseRecord(
        new_id("resp"), tenant, 1000.0, "completed", "m", {}, conversation_id=conversation_id
    )
    await store.save_turn(
        TurnRecord(
            record, list(items[:1]), list(items[1:]), append_to_conversation=bool(conversation_id)
        )
    )
    return record.id


async def test_an_item_is_found_by_all_of_its_words(store: Store) -> None:
    thread = await conversation(store)
    await stored(
        store,
        said("The deployment failed on Tuesday"),
        said("Roll it back", "assistant"),
        conversation_id=thread,
    )
    await stored(store, said("Lunch plans for Friday"))
    await stored(store, said("deployment notes elsewhere"), tenant=B)

    (hit,) = await store.search_items(A, "Deployment FAILED", limit=10)
    assert hit.item["content"][0]["text"] == "The deployment failed on Tuesday"
    assert hit.conversation_id == thread and hit.response_id is not None
    assert [
        h.item["content"][0]["text"] for h in await store.search_items(A, "deployment", limit=10)
    ] == ["The deployment failed on Tuesday"]  # another tenant's is never found
    assert await store.search_items(A, "deployment friday", limit=10) == []
    assert await store.search_items(A, "  ...  ", limit=10) == []


async def test_tool_calls_and_outputs_are_searched_but_not_ids_types_or_sealed_content(
    store: Store,
) -> None:
    call = {
        "id": "fc_1",
        "type": "function_call",
        "call_id": "call_zebra",
        "name": "weather",
        "arguments": '{"city": "Paris"}',
    }
    output = {
        "id": "fco_1",
        "type": "function_call_output",
        "call_id": "call_zebra",
        "output": "sunny in Paris",
    }
    sealed = {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "hiddenword"}
    await stored(store, said("what is the weather"), call, output, sealed)
    assert len(await store.search_items(A, "paris", limit=10)) == 2
    assert await store.search_items(A, "hiddenword", limit=10) == []
    assert await store.search_items(A, "zebra", limit=10) == []
    assert await store.search_items(A, "function_call_output", limit=10) == []


async def test_inline_images_files_and_part_types_are_not_searched(store: Store) -> None:
    message = {
        "id": new_id("msg"),
        "type": "message",
        "role": "user",
        "content": [
            {"type": "input_text", "text": "see the attached chart"},
            {"type": "input_image", "image_url": "data:image/png;base64,QUJDREVGZ2hpams"},
            {"type": "input_file", "filename": "q3.pdf", "file_data": "cXVhcnRlcmx5cmVwb3J0"},
        ],
    }
    await stored(store, message)
    assert len(await store.search_items(A, "attached chart", limit=10)) == 1
    assert await store.search_items(A, "QUJDREVGZ2hpams", limit=10) == []
    assert await store.search_items(A, "cXVhcnRlcmx5cmVwb3J0", limit=10) == []
    assert await store.search_items(A, "input_image", limit=10) == []


async def test_deleted_items_are_no_longer_found(store: Store) -> None:
    gone = await stored(store, said("ephemeral words here"))
    kept = await stored(store, said("ephemeral but kept"))
    assert len(await store.search_items(A, "ephemeral", limit=10)) == 2
    assert await store.delete_response(A, gone)
    (hit,) = await store.search_items(A, "ephemeral", limit=10)
    assert hit.response_id == kept


async def test_the_most_relevant_items_come_first_up_to_the_limit(store: Store) -> None:
    await stored(store, said("budget"))
    await stored(store, said("budget budget budget review of the budget"))
    best = await store.search_items(A, "budget", limit=1)
    assert [h.item["content"][0]["text"] for h in best] == [
        "budget budget budget review of the budget"
    ]


async def test_conversations_are_found_by_the_words_of_their_metadata(store: Store) -> None:
    ticket = await conversation(store, metadata={"topic": "Billing dispute", "ticket": "T-4471"})
    await conversation(store, metadata={"topic": "billing question"})
    await conversation(store, metadata={"disputed": "billing"})  # a key is not a value
    await conversation(store, tenant=B, metadata={"topic": "billing dispute"})

    (found,) = await store.search_conversations(A, "DISPUTE billing", limit=10)
    assert found.id == ticket
    assert found.metadata["ticket"] == "T-4471"
    assert [c.id for c in await store.search_conversations(A, "t 4471", limit=10)] == [ticket]
    assert len(await store.search_conversations(A, "billing", limit=10)) == 3
    assert len(await store.search_conversations(A, "billing", limit=1)) == 1
    assert await store.search_conversations(A, "refund", limit=10) == []
    assert await store.search_conversations(A, " ... ", limit=10) == []
