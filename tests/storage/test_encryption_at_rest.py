"""Encryption at rest (storage/encryption.py, resealing.py) on every backend that keeps
anything at rest: content is unreadable in the database, reads and search still work, content
stored in the clear before stays readable, and a key rotation re-seals everything."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from tests.storage.conftest import backend, open_backend
from tests.storage.mongo_backend import MONGODB_BACKEND, MONGODB_URL, STANDIN_URL
from tests.storage.mongo_standin import MongoStandIn
from tests.storage.test_item_search_contract import said, stored
from tests.storage.test_store_contract import A, B, conversation
from threadline.ids import new_id
from threadline.storage.base import (
    QueuedTurn,
    ResponseRecord,
    Store,
    StoredCompletion,
)
from threadline.storage.encryption import (
    PLAIN,
    ContentCodec,
    ContentKeyMissing,
    KeyRing,
    new_key_entry,
)
from threadline.storage.factory import sqlalchemy_url
from threadline.storage.mongo import MongoStore
from threadline.storage.mongo.schema import (
    BACKGROUND_JOBS,
    CHAT_COMPLETIONS,
    ITEMS,
    RESPONSE_EVENTS,
    RESPONSES,
)
from threadline.storage.sql import SqlStore
from threadline.storage.sql.tables import (
    background_jobs,
    chat_completions,
    items,
    response_events,
    responses,
)

SECRET = "Quetzalcoatl"
"""A word that must never be found at rest once content is sealed."""

K1 = new_key_entry("k1")
K2 = new_key_entry("k2")


def codec(*entries: str) -> ContentCodec:
    return ContentCodec(KeyRing.parse(entries))


Opener = Callable[[ContentCodec], Awaitable[Store]]


@pytest.fixture(params=[backend("sqlite"), backend("postgresql"), backend(MONGODB_BACKEND)])
async def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens a store with a given codec on one database, as often as a test asks (each open
    is a server restarted with other settings); all are closed at the end."""
    opened: list[Store] = []
    first = await open_backend(request.param, tmp_path, request)  # migrated and emptied
    await first.close()
    standin = MongoStandIn() if request.param == MONGODB_BACKEND and not MONGODB_URL else None
    if standin is not None:
        await _migrated(MongoStore(STANDIN_URL, client=standin.client()))

    async def open_with(content: ContentCodec) -> Store:
        store: Store
        if request.param == "sqlite":
            store = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'threadline.db'}", codec=content)
        elif request.param == "postgresql":
            store = SqlStore(_postgres_url(request), codec=content)
        elif standin is not None:
            store = MongoStore(STANDIN_URL, client=standin.client(), codec=content)
        else:
            database = request.getfixturevalue("storage_mongodb_database")
            store = MongoStore(str(MONGODB_URL), database=database, codec=content)
        opened.append(store)
        await store.migrate()
        return store

    yield open_with
    for store in opened:
        await store.close()


async def _migrated(store: MongoStore) -> None:
    await store.migrate()
    await store.close()


def _postgres_url(request: pytest.FixtureRequest) -> str:
    url = sqlalchemy_url(request.getfixturevalue("storage_postgres_url"))
    assert url is not None
    return url


async def at_rest(store: Store) -> list[str]:
    """Every stored value that holds content (and the full-text index), as the database
    keeps it."""
    if isinstance(store, SqlStore):
        return await store.read(_sql_values)
    assert isinstance(store, MongoStore)
    found: list[str] = []
    for name in (ITEMS, RESPONSES, CHAT_COMPLETIONS, RESPONSE_EVENTS, BACKGROUND_JOBS):
        found += [str(document) for document in await store._db[name].find({}).to_list()]
    return found


def _sql_values(conn: Connection) -> list[str]:
    columns = (
        items.c.data,
        responses.c.settings,
        chat_completions.c.messages,
        chat_completions.c.completion,
        response_events.c.data,
        background_jobs.c.request,
    )
    found = [value for column in columns for value in conn.scalars(select(column)).all()]
    if conn.dialect.name == "sqlite":
        # The FTS5 index's own storage: its terms, as the file holds them.
        found += [str(row) for row in conn.execute(text("SELECT * FROM items_fts_data")).all()]
    else:
        found += [str(words) for words in conn.scalars(text("SELECT words FROM item_words"))]
    return found


async def store_everything(store: Store, word: str = SECRET) -> dict[str, Any]:
    """One of each kind of content, each holding `word`; what to read back."""
    thread = await conversation(store, f"{word} opens the thread")
    response_id = await stored(
        store, said(f"Tell me about {word}"), said(f"{word} is a deity", "assistant")
    )
    settings = {"instructions": f"Speak of {word} kindly", "background": True}
    queued = ResponseRecord(new_id("resp"), A, 1000.0, "queued", "m", settings)
    await store.enqueue_turn(QueuedTurn(queued, [said(word)], {"input": word}))
    await store.append_response_events(
        queued.id, [{"type": "response.output_text.delta", "delta": word, "sequence_number": 1}]
    )
    completion = StoredCompletion(
        id=new_id("chatcmpl"),
        tenant=A,
        created_at=1000.0,
        model="m",
        metadata={},
        completion={"choices": [{"message": {"content": f"{word}!"}}]},
        messages=[{"role": "user", "content": word}],
    )
    await store.save_completion(completion)
    return {
        "thread": thread,
        "response": response_id,
        "queued": queued.id,
        "completion": completion.id,
    }


async def read_everything(store: Store, ids: dict[str, Any]) -> str:
    """All of it read back through the store, as one text."""
    loaded = await store.load_conversation(A, ids["thread"])
    response = await store.get_response(A, ids["response"])
    chain = await store.load_chain(A, ids["response"])
    queued = await store.get_response(A, ids["queued"])
    events = await store.response_events(A, ids["queued"], after=0, limit=10)
    completion = await store.get_completion(A, ids["completion"])
    assert loaded and response and chain and queued and events and completion
    return str(
        (loaded[1], response.output, chain, queued.record.settings, events, completion.messages)
    )


async def test_sealed_content_is_unreadable_at_rest_and_reads_back_whole(reopen: Opener) -> None:
    store = await reopen(codec(K1))
    ids = await store_everything(store)

    assert not [value for value in await at_rest(store) if SECRET.lower() in value.lower()]
    back = await read_everything(store, ids)
    assert back.count(SECRET) == 7
    (job,) = await store.take_jobs("worker", now=1000.0, lease_until=1010.0, limit=1)
    assert job.request == {"input": SECRET}
    assert job.response.settings["instructions"] == f"Speak of {SECRET} kindly"


async def test_sealed_items_are_found_by_their_whole_words(reopen: Opener) -> None:
    store = await reopen(codec(K1))
    await stored(store, said("The deployment failed on Tuesday"))
    await stored(store, said("deployment notes of another tenant"), tenant=B)

    (hit,) = await store.search_items(A, "DEPLOYMENT tuesday", limit=10)
    assert hit.item["content"][0]["text"] == "The deployment failed on Tuesday"
    assert await store.search_items(A, "deployment friday", limit=10) == []
    assert len(await store.search_items(B, "deployment", limit=10)) == 1


async def test_content_stored_in_the_clear_stays_readable_and_reencrypt_seals_it(
    reopen: Opener,
) -> None:
    plain = await reopen(PLAIN)
    ids = await store_everything(plain)
    assert [value for value in await at_rest(plain) if SECRET in value]

    sealed = await reopen(codec(K1))
    assert (await read_everything(sealed, ids)).count(SECRET) == 7
    assert len(await sealed.search_items(A, SECRET, limit=10)) == 4  # indexed in the clear

    counts = await sealed.reseal_content(batch=2)
    assert counts == {
        "items": 4,
        "responses": 2,
        "chat_completions": 1,
        "response_events": 1,
        "background_jobs": 1,
    }
    assert not [value for value in await at_rest(sealed) if SECRET.lower() in value.lower()]
    assert (await read_everything(sealed, ids)).count(SECRET) == 7
    assert len(await sealed.search_items(A, SECRET, limit=10)) == 4
    assert set((await sealed.reseal_content()).values()) == {0}


async def test_a_rotated_key_reseals_everything_and_the_old_key_can_go(reopen: Opener) -> None:
    ids = await store_everything(await reopen(codec(K1)))

    rotated = await reopen(codec(K2, K1))  # the new key first; the old one still opens
    assert (await read_everything(rotated, ids)).count(SECRET) == 7
    await store_everything(rotated, "Tezcatlipoca")  # written under k2 meanwhile
    counts = await rotated.reseal_content()
    assert sum(counts.values()) == 9  # only what k1 sealed

    alone = await reopen(codec(K2))
    assert (await read_everything(alone, ids)).count(SECRET) == 7
    assert len(await alone.search_items(A, SECRET, limit=10)) == 4
    assert len(await alone.search_items(A, "tezcatlipoca", limit=10)) == 4
    sealed_values = [v for v in await at_rest(alone) if "tle1:" in v]
    assert sealed_values and not [v for v in sealed_values if "tle1:k1:" in v]


async def test_content_sealed_under_a_key_not_in_the_ring_names_that_key(reopen: Opener) -> None:
    ids = await store_everything(await reopen(codec(K1)))

    without = await reopen(codec(K2))
    with pytest.raises(ContentKeyMissing, match="'k1'"):
        await without.get_response(A, ids["response"])
    with pytest.raises(ContentKeyMissing, match="'k1'"):
        await without.reseal_content()
