"""The Conversations API, and `conversation` on POST /v1/responses."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.api.test_errors import assert_envelope
from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream


def _sent(fake: FakeUpstream) -> list[tuple[str, str]]:
    return [(m["role"], m.get("content") or "") for m in fake.last_request()["body"]["messages"]]


def _texts(items: Any) -> list[str]:
    return [part.text for item in items for part in getattr(item, "content", None) or []]


def test_create_retrieve_update_delete(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(
        metadata={"user": "u1"}, items=[{"role": "user", "content": "hi"}]
    )
    assert conversation.id.startswith("conv_")
    assert conversation.object == "conversation"
    assert conversation.metadata == {"user": "u1"}

    fetched = client.conversations.retrieve(conversation.id)
    assert fetched.id == conversation.id
    assert fetched.model_extra is not None and fetched.model_extra["status"] == "active"

    updated = client.conversations.update(conversation.id, metadata={"user": "u2"})
    assert updated.metadata == {"user": "u2"}

    deleted = client.conversations.delete(conversation.id)
    assert deleted.deleted is True and deleted.object == "conversation.deleted"
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conversation.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.list(conversation.id)


def test_items_create_list_retrieve_delete(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    added = client.conversations.items.create(
        conversation.id, items=[{"role": "user", "content": f"m{i}"} for i in range(5)]
    )
    assert [item.content[0].text for item in added.data] == [f"m{i}" for i in range(5)]

    newest_first = client.conversations.items.list(conversation.id, limit=2)
    assert _texts(newest_first.data) == ["m4", "m3"] and newest_first.has_more
    assert _texts(client.conversations.items.list(conversation.id, order="asc")) == [
        f"m{i}" for i in range(5)
    ]

    one = client.conversations.items.retrieve(added.data[1].id, conversation_id=conversation.id)
    assert one.id == added.data[1].id

    after_delete = client.conversations.items.delete(
        added.data[1].id, conversation_id=conversation.id
    )
    assert after_delete.id == conversation.id and after_delete.object == "conversation"
    assert _texts(client.conversations.items.list(conversation.id, order="asc")) == [
        "m0",
        "m2",
        "m3",
        "m4",
    ]
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(added.data[1].id, conversation_id=conversation.id)


def test_item_limits_are_enforced(http: httpx.Client, client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    too_many = [{"role": "user", "content": "x"}] * 21
    assert_envelope(
        http.post(f"/v1/conversations/{conversation.id}/items", json={"items": too_many}),
        400,
        param="items",
    )
    assert_envelope(
        http.post(f"/v1/conversations/{conversation.id}/items", json={"items": []}),
        400,
        param="items",
    )
    assert_envelope(http.post("/v1/conversations", json={"items": too_many}), 400, param="items")


def test_five_turn_conversation_gives_the_model_every_earlier_item(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    conversation = client.conversations.create(items=[{"role": "developer", "content": "be kind"}])
    expected: list[tuple[str, str]] = [("system", "be kind")]
    for turn in range(5):
        if turn == 2:
            client.conversations.items.create(
                conversation.id, items=[{"role": "user", "content": "aside"}]
            )
            expected.append(("user", "aside"))
        response = client.responses.create(
            model=MODEL, input=f"turn {turn}", conversation=conversation.id
        )
        expected.append(("user", f"turn {turn}"))
        assert _sent(fake) == expected
        assert response.conversation is not None and response.conversation.id == conversation.id
        expected.append(("assistant", f"echo: turn {turn}"))
    items = client.conversations.items.list(conversation.id, order="asc", limit=100)
    assert len(items.data) == len(expected)


def test_conversation_accepts_an_object_reference(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    response = client.responses.create(model=MODEL, input="x", conversation={"id": conversation.id})
    assert response.conversation is not None and response.conversation.id == conversation.id


def test_failed_turn_appends_nothing(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(items=[{"role": "user", "content": "first"}])
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model=MODEL, input="fail 500", conversation=conversation.id)
    assert _texts(client.conversations.items.list(conversation.id, order="asc")) == ["first"]


def test_conversation_with_previous_response_id_is_refused(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    first = client.responses.create(model=MODEL, input="x")
    with pytest.raises(openai.BadRequestError):
        client.responses.create(
            model=MODEL, input="y", conversation=conversation.id, previous_response_id=first.id
        )


def test_unknown_conversation_is_a_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model=MODEL, input="x", conversation="conv_nope")


def test_closed_conversation_refuses_new_turns_with_409(
    http: httpx.Client, client: openai.OpenAI
) -> None:
    conversation = client.conversations.create()
    closed = http.post(f"/v1/conversations/{conversation.id}/close").json()
    assert closed["status"] == "closed"
    with pytest.raises(openai.ConflictError) as caught:
        client.responses.create(model=MODEL, input="x", conversation=conversation.id)
    assert "closed" in caught.value.message
    assert_envelope(
        http.post(
            f"/v1/conversations/{conversation.id}/items",
            json={"items": [{"role": "user", "content": "x"}]},
        ),
        409,
    )


def test_list_conversations_filters_and_paginates(
    http: httpx.Client, client: openai.OpenAI
) -> None:
    owner = f"user-{id(http)}"
    ids = [client.conversations.create(metadata={"owner": owner, "n": str(i)}).id for i in range(5)]
    client.responses.create(model=MODEL, input="bump", conversation=ids[1])  # most recent activity

    page = http.get("/v1/conversations", params={"metadata[owner]": owner, "limit": 3}).json()
    assert page["object"] == "list"
    assert page["data"][0]["id"] == ids[1]
    assert page["has_more"] is True
    rest = http.get(
        "/v1/conversations", params={"metadata[owner]": owner, "after": page["last_id"]}
    ).json()
    assert {c["id"] for c in page["data"] + rest["data"]} == set(ids)
    assert rest["has_more"] is False

    http.post(f"/v1/conversations/{ids[0]}/close")
    closed = http.get(
        "/v1/conversations", params={"metadata[owner]": owner, "status": "closed"}
    ).json()
    assert [c["id"] for c in closed["data"]] == [ids[0]]
    one = http.get(
        "/v1/conversations", params={"metadata[owner]": owner, "metadata[n]": "3"}
    ).json()
    assert [c["id"] for c in one["data"]] == [ids[3]]
    too_many = {f"metadata[k{n}]": "v" for n in range(17)}
    refused = http.get("/v1/conversations", params=too_many)
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "metadata"


def test_export_then_import_round_trip(http: httpx.Client, client: openai.OpenAI) -> None:
    conversation = client.conversations.create(metadata={"topic": "export"})
    client.responses.create(model=MODEL, input="hello", conversation=conversation.id)
    exported = http.get(f"/v1/conversations/{conversation.id}/export").json()
    assert exported["object"] == "conversation.export"
    assert [i["type"] for i in exported["items"]] == ["message", "message"]

    imported = http.post("/v1/conversations/import", json=exported).json()
    assert imported["id"] != conversation.id
    again = http.get(f"/v1/conversations/{imported['id']}/export").json()
    assert again["items"] == exported["items"]
    assert again["conversation"]["metadata"] == {"topic": "export"}


def test_import_chat_history_then_continue_it(
    http: httpx.Client, client: openai.OpenAI, fake: FakeUpstream
) -> None:
    history = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
    ]
    imported = http.post("/v1/conversations/import", json=history)
    assert imported.status_code == 200, imported.text
    conversation_id = imported.json()["id"]
    client.responses.create(model=MODEL, input="And 3+3?", conversation=conversation_id)
    assert _sent(fake) == [
        ("system", "You are terse."),
        ("user", "What is 2+2?"),
        ("assistant", "4"),
        ("user", "And 3+3?"),
    ]


def test_an_import_that_repeats_an_item_id_is_refused_naming_the_item(
    http: httpx.Client, client: openai.OpenAI
) -> None:
    conversation = client.conversations.create()
    client.responses.create(model=MODEL, input="hello", conversation=conversation.id)
    exported = http.get(f"/v1/conversations/{conversation.id}/export").json()
    exported["items"].append(dict(exported["items"][0]))

    refused = http.post("/v1/conversations/import", json=exported)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["param"] == "items[2].id"
    assert "items[0]" in error["message"]


def test_importing_twice_gives_two_conversations_that_share_ids_but_not_items(
    http: httpx.Client, client: openai.OpenAI
) -> None:
    original = client.conversations.create()
    client.responses.create(model=MODEL, input="twice", conversation=original.id)
    exported = http.get(f"/v1/conversations/{original.id}/export").json()
    first = http.post("/v1/conversations/import", json=exported).json()["id"]
    second = http.post("/v1/conversations/import", json=exported).json()["id"]
    item_id = exported["items"][0]["id"]

    assert client.conversations.items.delete(item_id, conversation_id=first)
    for kept in (original.id, second):
        items = http.get(f"/v1/conversations/{kept}/export").json()["items"]
        assert items == exported["items"]
    left = http.get(f"/v1/conversations/{first}/export").json()["items"]
    assert left == exported["items"][1:]
