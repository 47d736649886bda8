"""Stored chat completions through the official SDK, as OpenAI has them: `store: true` keeps
the completion and the messages it was asked with; they are listed (by model and metadata),
read, relabelled and deleted, by their tenant only. An application that keeps its history in
a JSON file works unchanged, and its history is kept server-side too."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import httpx
import openai
import pytest

from tests.api.test_errors import assert_envelope
from tests.api.test_tenancy import two_tenants  # noqa: F401 (a fixture)
from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer


def _tag() -> dict[str, str]:
    """Metadata that only this test's completions carry (the session server is shared)."""
    return {"test": secrets.token_hex(6)}


def test_a_stored_completion_is_kept_with_its_messages(client: openai.OpenAI) -> None:
    tag = _tag()
    made = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "hello store"}]},
        ],
        store=True,
        metadata=tag,
    )
    kept = client.chat.completions.retrieve(made.id)
    assert kept.id == made.id and kept.choices[0].message.content == "echo: hello store"
    assert kept.usage == made.usage
    assert kept.metadata == tag
    messages = list(client.chat.completions.messages.list(made.id))
    assert [(m.id, m.content) for m in messages] == [
        (f"{made.id}-0", "Be brief."),
        (f"{made.id}-1", "hello store"),
    ]
    assert messages[0].content_parts is None
    assert (
        messages[1].content_parts is not None and messages[1].content_parts[0].text == "hello store"
    )


def test_a_streamed_completion_is_stored_when_it_ends(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "long 5"}],
        stream=True,
        store=True,
    )
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    kept = client.chat.completions.retrieve(chunks[0].id)
    assert kept.choices[0].message.content == streamed == "w1 w2 w3 w4 w5"
    assert kept.choices[0].finish_reason == "stop"


def test_stored_completions_are_listed_by_model_and_metadata(client: openai.OpenAI) -> None:
    tag = _tag()
    ids = [
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": f"number {n}"}],
            store=True,
            metadata={**tag, "parity": "even" if n % 2 == 0 else "odd"},
        ).id
        for n in range(5)
    ]
    client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "not kept"}], metadata=tag
    )
    listed = client.chat.completions.list(metadata=tag, limit=2)
    assert [c.id for c in listed.data] == ids[:2] and listed.has_more
    assert [c.id for c in listed.iter_pages().__next__().data] == ids[:2]
    assert [c.id for c in client.chat.completions.list(metadata=tag)] == ids  # paged through
    newest = client.chat.completions.list(metadata=tag, order="desc")
    assert [c.id for c in newest.data] == list(reversed(ids))
    even = client.chat.completions.list(metadata={**tag, "parity": "even"})
    assert [c.id for c in even.data] == ids[0::2]
    assert list(client.chat.completions.list(metadata=tag, model="some-other-model")) == []


def test_a_completions_metadata_is_updated_and_it_is_deleted(client: openai.OpenAI) -> None:
    made = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "label me"}], store=True
    )
    updated = client.chat.completions.update(made.id, metadata={"reviewed": "yes"})
    assert updated.metadata == {"reviewed": "yes"}
    deleted = client.chat.completions.delete(made.id)
    assert deleted.deleted and deleted.id == made.id
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.retrieve(made.id)


def test_a_completion_not_stored_is_not_found(client: openai.OpenAI) -> None:
    made = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "forget me"}]
    )
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.retrieve(made.id)
    assert missing.value.body["param"] == "completion_id"  # type: ignore[index]


def test_bad_stored_completion_requests_are_400s(server: LiveServer) -> None:
    url = f"{server.base_url}/chat/completions"
    made = httpx.post(
        url,
        json={"model": MODEL, "messages": [{"role": "user", "content": "x"}], "store": True},
    ).json()
    assert_envelope(httpx.get(url, params={"after": "chatcmpl-nope"}), 400, param="after")
    assert_envelope(httpx.get(url, params={"limit": 0}), 400, param="limit")
    assert_envelope(httpx.get(url, params={"colour": "red"}), 400, param="colour")
    filters = {f"metadata[k{n}]": "v" for n in range(17)}
    assert_envelope(httpx.get(url, params=filters), 400, param="metadata")
    too_many = {f"k{n}": "v" for n in range(17)}
    assert_envelope(httpx.post(f"{url}/{made['id']}", json={"metadata": too_many}), 400)
    assert_envelope(httpx.post(f"{url}/{made['id']}", json={}), 400, param="metadata")
    messages = f"{url}/{made['id']}/messages"
    assert_envelope(httpx.get(messages, params={"after": "x-9"}), 400, param="after")
    assert_envelope(httpx.delete(f"{url}/chatcmpl-nope"), 404, param="completion_id")


def test_another_tenant_cannot_see_or_touch_a_stored_completion(
    two_tenants: tuple[openai.OpenAI, openai.OpenAI, LiveServer],  # noqa: F811
) -> None:
    alice, bob, _ = two_tenants
    made = alice.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "alice only"}], store=True
    )
    for attempt in (
        lambda: bob.chat.completions.retrieve(made.id),
        lambda: bob.chat.completions.messages.list(made.id),
        lambda: bob.chat.completions.update(made.id, metadata={"x": "y"}),
        lambda: bob.chat.completions.delete(made.id),
    ):
        with pytest.raises(openai.NotFoundError):
            attempt()
    assert list(bob.chat.completions.list()) == []
    assert [c.id for c in alice.chat.completions.list()] == [made.id]


def test_an_app_that_keeps_its_history_in_a_json_file_works_unchanged(
    client: openai.OpenAI, tmp_path: Path
) -> None:
    """The common Chat Completions app: history read from a file, sent whole, the answer
    appended and written back. With `store: true` the server keeps each exchange too."""
    history_file = tmp_path / "history.json"
    history_file.write_text(json.dumps([{"role": "system", "content": "Be brief."}]))
    ids = []
    for question in ("first question", "second question", "third question"):
        history = json.loads(history_file.read_text())
        history.append({"role": "user", "content": question})
        answer = client.chat.completions.create(model=MODEL, messages=history, store=True)
        history.append({"role": "assistant", "content": answer.choices[0].message.content})
        history_file.write_text(json.dumps(history))
        ids.append(answer.id)
    history = json.loads(history_file.read_text())
    assert [m["content"] for m in history[1:]] == [
        "first question",
        "echo: first question",
        "second question",
        "echo: second question",
        "third question",
        "echo: third question",
    ]
    kept = list(client.chat.completions.messages.list(ids[-1]))
    assert [(m.role, m.content) for m in kept] == [(m["role"], m["content"]) for m in history[:-1]]


def test_a_stored_completion_exports_as_a_conversation_that_goes_on(
    client: openai.OpenAI, server: LiveServer, fake: FakeUpstream
) -> None:
    made = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "my name is Ada"},
        ],
        store=True,
        metadata={"source": "chat"},
    )
    exported = httpx.get(f"{server.base_url}/chat/completions/{made.id}/export")
    assert exported.status_code == 200, exported.text
    document = exported.json()
    assert document["object"] == "conversation.export"
    assert document["conversation"]["metadata"] == {"source": "chat"}
    imported = httpx.post(f"{server.base_url}/conversations/import", json=document)
    assert imported.status_code == 200, imported.text
    conversation_id = imported.json()["id"]
    items = client.conversations.items.list(conversation_id, order="asc")
    assert [(i.role, i.content[0].text) for i in items.data] == [  # type: ignore[union-attr]
        ("system", "Be brief."),
        ("user", "my name is Ada"),
        ("assistant", "echo: my name is Ada"),
    ]
    client.responses.create(model=MODEL, conversation=conversation_id, input="and then?")
    sent = [m["content"] for m in fake.last_request()["body"]["messages"]]
    assert sent == ["Be brief.", "my name is Ada", "echo: my name is Ada", "and then?"]


def test_a_stored_completions_images_and_files_export_as_they_were_sent(
    client: openai.OpenAI, server: LiveServer
) -> None:
    notes = "data:text/plain;base64," + base64.b64encode(b"the word is plum").decode()
    made = client.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.com/a.png", "detail": "low"},
                    },
                    {"type": "file", "file": {"file_data": notes, "filename": "notes.txt"}},
                ],
            }
        ],
        store=True,
    )
    exported = httpx.get(f"{server.base_url}/chat/completions/{made.id}/export")
    assert exported.status_code == 200, exported.text
    asked = exported.json()["items"][0]["content"]
    assert [part["type"] for part in asked] == ["input_text", "input_image", "input_file"]
    assert asked[1]["detail"] == "low" and asked[2]["filename"] == "notes.txt"
    imported = httpx.post(f"{server.base_url}/conversations/import", json=exported.json())
    assert imported.status_code == 200, imported.text
