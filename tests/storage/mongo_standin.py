"""An in-process STAND-IN for a MongoDB replica set: a test double, not MongoDB.

The contract suite runs MongoStore against it when THREADLINE_TEST_MONGODB_URL names no real
server (its test ids say `mongodb-standin`). It offers the part of pymongo's asyncio API that
MongoStore uses (AsyncMongoClient, AsyncDatabase, AsyncCollection, AsyncClientSession with
`with_transaction`, cursors) on top of mongomock, which supplies the query, update, unique-index
and aggregation semantics. Written here, because mongomock lacks them: sessions and
transactions, `$lookup` with `let`/`pipeline`, the `hello` and `ping` commands, and a round
trip of every document through pymongo's BSON codec, as the wire would do.

Transactions run one at a time (an asyncio lock), and operations outside a transaction wait
for the running one to end, so nobody reads uncommitted writes. A transaction that raises
restores every collection it wrote to the copy taken before its first write there. With
`conflict_first_attempt`, the first attempt of every transaction is rolled back at commit and
run again, as pymongo's `with_transaction` does after a write conflict (TransientTransactionError):
that proves the store's transaction work can be re-run, which the default mode never exercises.

What it cannot prove: snapshot isolation and real write conflicts between concurrent
transactions (here they are serialized); that the indexes are used and how `$graphLookup` and
`$lookup` perform (mongomock scans every document); the 16 MB document and 100 MB stage memory
limits; server-version differences. Where mongomock is known to evaluate an expression unlike
MongoDB, the stand-in refuses the pipeline instead of answering (mongo_standin_aggregation.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import bson
import mongomock
from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import InvalidOperation, OperationFailure

from tests.storage.mongo_standin_aggregation import refuse_unfaithful, run_pipeline

T = TypeVar("T")
Document = dict[str, Any]


def _wire(value: Document) -> Document:
    """What a document becomes after pymongo encodes it and the server sends it back."""
    return bson.decode(bson.encode(value))


class MongoStandIn:
    """The 'server': one mongomock store shared by every client made from it."""

    def __init__(self, *, replica_set: bool = True, conflict_first_attempt: bool = False) -> None:
        self.replica_set = replica_set
        self.conflict_first_attempt = conflict_first_attempt
        self.engine = mongomock.MongoClient()
        self.lock = asyncio.Lock()
        self.holder: asyncio.Task[Any] | None = None
        self.round_trips = 0
        self.transactions_committed = 0
        self.transactions_retried = 0

    def client(self) -> StandInClient:
        return StandInClient(self)

    @contextlib.asynccontextmanager
    async def operation(self, session: StandInSession | None) -> AsyncIterator[None]:
        self.round_trips += 1
        await asyncio.sleep(0)  # a network round trip lets other coroutines run
        if session is not None and session.in_transaction:
            yield
            return
        if self.holder is not None and self.holder is asyncio.current_task():
            raise InvalidOperation(
                "Operation without session= inside with_transaction: it would not see the "
                "transaction's writes"
            )
        async with self.lock:
            yield


class StandInClient:
    def __init__(self, server: MongoStandIn) -> None:
        self.server = server
        self.closed = False

    def get_database(self, name: str) -> StandInDatabase:
        return StandInDatabase(self, name)

    def get_default_database(self, default: str | None = None) -> StandInDatabase:
        assert default is not None, "the stand-in has no URL to take a database name from"
        return self.get_database(default)

    def __getitem__(self, name: str) -> StandInDatabase:
        return self.get_database(name)

    def start_session(self) -> StandInSession:
        return StandInSession(self)

    async def close(self) -> None:
        self.closed = True


class StandInDatabase:
    def __init__(self, client: StandInClient, name: str) -> None:
        self.client = client
        self.name = name
        self.engine = client.server.engine[name]

    def __getitem__(self, name: str) -> StandInCollection:
        return StandInCollection(self, name)

    def get_collection(self, name: str) -> StandInCollection:
        return self[name]

    async def command(self, name: str) -> Document:
        async with self.client.server.operation(None):
            if name == "ping":
                return {"ok": 1.0}
            if name == "hello":
                reply: Document = {"isWritablePrimary": True, "maxWireVersion": 21, "ok": 1.0}
                if self.client.server.replica_set:
                    reply |= {"setName": "standin", "hosts": ["standin:27017"]}
                return reply
        raise OperationFailure(f"no such command: '{name}'", code=59)


class StandInSession:
    def __init__(self, client: StandInClient) -> None:
        self.client = client
        self.in_transaction = False
        self._snapshots: dict[tuple[str, str], list[Document]] = {}

    async def __aenter__(self) -> StandInSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.end_session()

    async def end_session(self) -> None:
        assert not self.in_transaction

    def before_write(self, collection: Any) -> None:
        """Keep a copy of a collection the transaction is about to change, once."""
        key = (collection.database.name, collection.name)
        if self.in_transaction and key not in self._snapshots:
            self._snapshots[key] = list(collection.find())

    def _roll_back(self) -> None:
        engine = self.client.server.engine
        for (database, name), documents in self._snapshots.items():
            engine[database][name].delete_many({})
            if documents:
                engine[database][name].insert_many(documents)

    async def with_transaction(
        self, callback: Callable[[StandInSession], Awaitable[T]], **_options: Any
    ) -> T:
        server = self.client.server
        if not server.replica_set:
            raise OperationFailure(
                "Transaction numbers are only allowed on a replica set member or mongos",
                code=20,
            )
        attempts = 2 if server.conflict_first_attempt else 1
        for attempt in range(1, attempts + 1):
            async with server.lock:
                server.holder = asyncio.current_task()
                self.in_transaction, self._snapshots = True, {}
                try:
                    result = await callback(self)
                    if attempt < attempts:
                        raise _Conflict
                except BaseException as exc:
                    self._roll_back()
                    if isinstance(exc, _Conflict):
                        server.transactions_retried += 1
                        continue
                    raise
                finally:
                    self.in_transaction, server.holder = False, None
            server.transactions_committed += 1
            return result
        raise AssertionError("unreachable: the last attempt returns or raises")


class _Conflict(Exception):
    """The write conflict `conflict_first_attempt` pretends to meet at commit."""


class StandInCollection:
    def __init__(self, database: StandInDatabase, name: str) -> None:
        self.database = database
        self.name = name
        self.engine = database.engine[name]
        self.server = database.client.server

    # -- reads --------------------------------------------------------------------------------
    def find(
        self,
        filter: Document | None = None,
        projection: Document | None = None,
        *,
        sort: list[tuple[str, int]] | None = None,
        session: StandInSession | None = None,
    ) -> StandInCursor:
        return StandInCursor(self, filter or {}, projection, sort, session)

    async def find_one(
        self,
        filter: Document | None = None,
        projection: Document | None = None,
        *,
        sort: list[tuple[str, int]] | None = None,
        session: StandInSession | None = None,
    ) -> Document | None:
        found = await self.find(filter, projection, sort=sort, session=session).limit(1).to_list()
        return found[0] if found else None

    async def count_documents(
        self, filter: Document, *, session: StandInSession | None = None
    ) -> int:
        async with self.server.operation(session):
            return int(self.engine.count_documents(_wire(filter)))

    async def aggregate(
        self,
        pipeline: list[Document],
        *,
        session: StandInSession | None = None,
        batchSize: int | None = None,  # all results come in one batch here
    ) -> StandInCommandCursor:
        refuse_unfaithful(pipeline)
        async with self.server.operation(session):
            documents = run_pipeline(self.database.engine, list(self.engine.find()), pipeline)
            return StandInCommandCursor([_wire(dict(d)) for d in documents])

    async def index_information(self) -> Document:
        async with self.server.operation(None):
            return dict(self.engine.index_information())

    # -- writes -------------------------------------------------------------------------------
    async def create_index(self, keys: list[tuple[str, int]], **options: Any) -> str:
        async with self.server.operation(None):
            return str(self.engine.create_index(keys, **options))

    async def insert_one(self, document: Document, *, session: StandInSession | None = None) -> Any:
        document.setdefault("_id", bson.ObjectId())  # pymongo adds the id to the caller's dict
        async with self.server.operation(session):
            self._before_write(session)
            return self.engine.insert_one(_wire(document))

    async def insert_many(
        self, documents: list[Document], *, session: StandInSession | None = None
    ) -> Any:
        for document in documents:
            document.setdefault("_id", bson.ObjectId())
        async with self.server.operation(session):
            self._before_write(session)
            return self.engine.insert_many([_wire(d) for d in documents])

    async def update_one(
        self,
        filter: Document,
        update: Document,
        *,
        upsert: bool = False,
        session: StandInSession | None = None,
    ) -> Any:
        async with self.server.operation(session):
            self._before_write(session)
            return self.engine.update_one(_wire(filter), _wire(update), upsert=upsert)

    async def update_many(
        self, filter: Document, update: Document, *, session: StandInSession | None = None
    ) -> Any:
        async with self.server.operation(session):
            self._before_write(session)
            return self.engine.update_many(_wire(filter), _wire(update))

    async def find_one_and_update(
        self,
        filter: Document,
        update: Document,
        *,
        projection: Document | None = None,
        upsert: bool = False,
        return_document: bool = ReturnDocument.BEFORE,
        session: StandInSession | None = None,
    ) -> Document | None:
        async with self.server.operation(session):
            self._before_write(session)
            found = self.engine.find_one_and_update(
                _wire(filter),
                _wire(update),
                projection,
                upsert=upsert,
                return_document=return_document,
            )
            return None if found is None else _wire(found)

    async def bulk_write(
        self,
        requests: list[UpdateOne],
        *,
        ordered: bool = True,
        session: StandInSession | None = None,
    ) -> Any:
        async with self.server.operation(session):
            self._before_write(session)
            for request in requests:
                document = request._doc  # what pymongo sends: {"$set": …} or {"$setOnInsert": …}
                self.engine.update_one(
                    _wire(request._filter), _wire(document), upsert=bool(request._upsert)
                )

    async def delete_one(self, filter: Document, *, session: StandInSession | None = None) -> Any:
        async with self.server.operation(session):
            self._before_write(session)
            return self.engine.delete_one(_wire(filter))

    async def delete_many(self, filter: Document, *, session: StandInSession | None = None) -> Any:
        async with self.server.operation(session):
            self._before_write(session)
            return self.engine.delete_many(_wire(filter))

    # -- internals ----------------------------------------------------------------------------
    def _before_write(self, session: StandInSession | None) -> None:
        if session is not None:
            session.before_write(self.engine)


class StandInCursor:
    def __init__(
        self,
        collection: StandInCollection,
        filter: Document,
        projection: Document | None,
        sort: list[tuple[str, int]] | None,
        session: StandInSession | None,
    ) -> None:
        self._collection, self._filter, self._projection = collection, filter, projection
        self._sort, self._session, self._limit = sort, session, 0

    def sort(self, key: str, direction: int = 1) -> StandInCursor:
        self._sort = [*(self._sort or []), (key, direction)]
        return self

    def limit(self, count: int) -> StandInCursor:
        self._limit = count
        return self

    async def to_list(self, length: int | None = None) -> list[Document]:
        engine = self._collection.engine
        async with self._collection.server.operation(self._session):
            found = engine.find(
                _wire(self._filter), self._projection, sort=self._sort, limit=self._limit
            )
            documents = [_wire(d) for d in found]
        return documents if length is None else documents[:length]

    async def __aiter__(self) -> AsyncIterator[Document]:
        for document in await self.to_list():
            yield document


class StandInCommandCursor:
    def __init__(self, documents: list[Document]) -> None:
        self._documents = documents

    async def to_list(self, length: int | None = None) -> list[Document]:
        return self._documents if length is None else self._documents[:length]

    async def __aiter__(self) -> AsyncIterator[Document]:
        for document in self._documents:
            yield document
