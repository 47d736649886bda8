"""What only the MongoDB backend can break, beyond the contract suite it also runs.

Each test runs on the server THREADLINE_TEST_MONGODB_URL names, or else on the in-process
stand-in (test ids `[mongodb-standin]`); the few that need the stand-in's switches (a standalone
server, forced write conflicts) run on it only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import pytest
from pymongo import AsyncMongoClient, monitoring

from tests.storage.mongo_backend import (
    MONGODB_BACKEND,
    MONGODB_URL,
    open_mongo_store,
    temporary_mongo_database,
)
from tests.storage.mongo_standin import MongoStandIn
from tests.storage.test_store_contract import A, conversation, conversation_texts, msg, save, texts
from threadline.ids import new_id
from threadline.storage.base import ConversationFilter, ResponseRecord, TurnRecord
from threadline.storage.factory import open_store
from threadline.storage.mongo import MongoStore
from threadline.storage.mongo.documents import RESPONSE_FIELDS
from threadline.storage.mongo.schema import (
    ITEMS,
    META,
    RESPONSES,
    SCHEMA_VERSION,
    SCHEMA_VERSION_ID,
    MongoSetupError,
)

T = TypeVar("T")
standin_only = pytest.mark.skipif(
    MONGODB_URL is not None, reason="needs the stand-in's switches, which a real server lacks"
)


class _CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@dataclass
class Mongo:
    store: MongoStore
    round_trips: Callable[[], int]
    reopen: Callable[[], MongoStore]
    """Another MongoStore on the same database, as a second replica would have."""


@pytest.fixture(params=[pytest.param(MONGODB_BACKEND, id=MONGODB_BACKEND)])
async def mongo() -> AsyncIterator[Mongo]:
    if MONGODB_URL is None:
        server = MongoStandIn()
        store = await open_mongo_store(None, server)
        yield Mongo(
            store,
            lambda: server.round_trips,
            lambda: MongoStore("mongodb://standin.invalid", client=server.client()),
        )
        return
    url = MONGODB_URL
    with temporary_mongo_database("backend") as name:
        counter = _CommandCounter()
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            url, event_listeners=[counter]
        )
        store = MongoStore(url, database=name, client=client)
        await store.migrate()
        try:
            yield Mongo(store, lambda: counter.count, lambda: MongoStore(url, database=name))
        finally:
            await client.close()


async def counted(mongo: Mongo, operation: Awaitable[T]) -> tuple[T, int]:
    """What `operation` returns, and how many round trips to the database it took."""
    before = mongo.round_trips()
    result = await operation
    return result, mongo.round_trips() - before


async def test_loading_a_context_is_one_round_trip_whatever_its_length(mongo: Mongo) -> None:
    store = mongo.store
    conv = await conversation(store, "c0")
    previous = None
    for n in range(50):
        previous = await save(store, [f"q{n}"], [f"a{n}"], previous=previous)
        await save(store, [f"i{n}"], [f"o{n}"], conversation=conv)
    assert previous is not None
    chain, trips = await counted(mongo, store.load_chain(A, previous))
    assert trips == 1 and chain is not None and len(chain) == 100
    loaded, trips = await counted(mongo, store.load_conversation(A, conv))
    assert trips == 1 and loaded is not None and len(loaded[1]) == 101
    stored, trips = await counted(mongo, store.get_response(A, previous))
    assert trips == 1 and stored is not None and texts(stored.output) == ["a49"]


async def test_a_fork_from_an_early_conversation_turn_sees_only_the_conversation_before_it(
    mongo: Mongo,
) -> None:
    store = mongo.store
    conv = await conversation(store, "c0")
    early = await save(store, ["i1"], ["o1"], conversation=conv)
    for n in range(2, 6):
        await save(store, [f"i{n}"], [f"o{n}"], conversation=conv)
    fork = await save(store, ["fork"], ["forked"], previous=early)
    chain = await store.load_chain(A, fork)
    assert texts(chain) == ["c0", "i1", "o1", "fork", "forked"]


async def test_items_keep_json_that_bson_cannot_hold(mongo: Mongo) -> None:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": {"a.b": {}}}
    odd = {
        "id": new_id("msg"),
        "type": "message",
        "content": ["odd"],
        "schema": schema,
        "huge": 2**64 - 1,  # past BSON's int64, within JSON's (orjson's) range
        "$top": {"k.with.dots": [1.5, None, True]},
    }
    record = ResponseRecord(new_id("resp"), A, 1.0, "completed", "m", {"tools": [schema]})
    await mongo.store.save_turn(TurnRecord(record, [msg("q")], [odd]))
    stored = await mongo.store.get_response(A, record.id)
    assert stored is not None
    assert stored.output == [odd]
    assert stored.record.settings == {"tools": [schema]}
    assert (await mongo.store.load_chain(A, record.id) or [])[1] == odd


async def test_a_response_document_holds_provenance_and_each_item_is_one_document(
    mongo: Mongo,
) -> None:
    rid = await save(mongo.store, ["q1", "q2"], ["a1"])
    db = mongo.store._db
    document = await db[RESPONSES].find_one({"_id": rid})
    assert document is not None
    assert set(document) == {*RESPONSE_FIELDS, "conversation_position"}  # no item content
    items = await db[ITEMS].find({"response_id": rid}, sort=[("position", 1)]).to_list()
    assert [(i["kind"], i["position"]) for i in items] == [
        ("input", 0),
        ("input", 1),
        ("output", 2),
    ]
    assert all("conversation_id" not in item for item in items)


async def test_migrate_records_its_version_builds_indexes_and_can_run_again(
    mongo: Mongo,
) -> None:
    conv = await conversation(mongo.store, "c0")
    await mongo.store.migrate()
    await mongo.store.migrate()
    db = mongo.store._db
    version = await db[META].find_one({"_id": SCHEMA_VERSION_ID})
    assert version is not None and version["version"] == SCHEMA_VERSION
    indexes = await db[ITEMS].index_information()
    assert {"response_id_position", "conversation_id_conversation_position"} <= set(indexes)
    assert indexes["response_id_position"]["unique"] is True
    assert await conversation_texts(mongo.store, conv) == ["c0"]


async def test_a_database_written_by_a_newer_threadline_is_refused(mongo: Mongo) -> None:
    db = mongo.store._db
    await db[META].update_one({"_id": SCHEMA_VERSION_ID}, {"$set": {"version": 99}})
    with pytest.raises(MongoSetupError, match="newer"):
        await mongo.store.migrate()


async def test_a_second_store_on_the_same_database_sees_everything(mongo: Mongo) -> None:
    conv = await conversation(mongo.store, "c0", metadata={"k": "v"})
    turn = await save(mongo.store, ["i1"], ["o1"], conversation=conv)
    reply = await save(mongo.store, ["q"], ["a"], previous=turn)
    other = mongo.reopen()
    try:
        await other.migrate()
        assert texts(await other.load_chain(A, reply)) == ["c0", "i1", "o1", "q", "a"]
        page = await other.list_conversations(A, ConversationFilter(), after=None, limit=5)
        assert [(c.id, c.metadata) for c in page.conversations] == [(conv, {"k": "v"})]
    finally:
        await other.close()


@standin_only
async def test_migrate_refuses_a_standalone_server_and_says_how_to_fix_it() -> None:
    store = MongoStore("mongodb://standin.invalid", client=MongoStandIn(replica_set=False).client())
    with pytest.raises(MongoSetupError) as refused:
        await store.migrate()
    message = str(refused.value)
    assert "replica set" in message and "rs.initiate()" in message


@standin_only
async def test_transaction_work_runs_again_cleanly_after_a_write_conflict() -> None:
    server = MongoStandIn(conflict_first_attempt=True)
    store = await open_mongo_store(None, server)
    conv = await conversation(store, "c0", "c1")
    turn = await save(store, ["i1"], ["o1"], conversation=conv)
    assert await store.append_items(A, conv, [msg("added")], now=2000.0)
    failed = await save(store, ["i2"], ["partial"], conversation=conv, append=False)
    loose = await save(store, ["q"], ["a"], previous=turn)
    assert texts(await store.load_chain(A, failed)) == [
        "c0",
        "c1",
        "i1",
        "o1",
        "added",
        "i2",
        "partial",
    ]
    loaded = await store.load_conversation(A, conv)
    assert loaded is not None
    assert await store.delete_conversation_item(A, conv, loaded[1][0]["id"])
    assert await conversation_texts(store, conv) == ["c1", "i1", "o1", "added"]
    assert await store.delete_response(A, loose)
    assert await store.delete_responses_created_before(cutoff=5000.0) == 2
    assert await conversation_texts(store, conv) == ["c1", "i1", "o1", "added"]
    assert await store.delete_conversation(A, conv)
    assert await store._items.count_documents({}) == 0
    assert server.transactions_retried == server.transactions_committed > 0


async def test_open_store_takes_the_database_from_the_url() -> None:
    for url, database in (
        ("mongodb://db.invalid:27017/chats?replicaSet=rs0", "chats"),
        ("mongodb://u:secret@db1.invalid,db2.invalid/", "threadline"),
        ("mongodb+srv://u:secret@cluster.invalid/prod", "prod"),
    ):
        opened = open_store(url)
        assert isinstance(opened, MongoStore)
        assert opened._db.name == database
        await opened.close()
