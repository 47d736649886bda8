"""The client, database and collections a MongoStore works on, and its transactions.

A write that touches several documents runs in `transaction()`: pymongo's `with_transaction`,
which commits, or aborts and re-raises what the work raised. A `TransientTransactionError`
(a write conflict with a concurrent transaction, typically two turns appending to one
conversation) makes it run the work again from the start, with back-off, so the work must only
compute from what it reads inside the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from threadline.storage.encryption import PLAIN, ContentCodec
from threadline.storage.mongo.documents import Document
from threadline.storage.mongo.schema import (
    API_KEYS,
    BACKGROUND_JOBS,
    CHANGES,
    CONVERSATIONS,
    ITEMS,
    RESPONSE_EVENTS,
    RESPONSES,
    WEBHOOK_DELIVERIES,
    WEBHOOK_ENDPOINTS,
)

T = TypeVar("T")
Collection = AsyncCollection[Document]
Session = AsyncClientSession
DEFAULT_DATABASE = "threadline"
RESULT_BATCH = 1_000_000


class MongoConnection:
    def __init__(
        self,
        url: str,
        database: str | None = None,
        *,
        client: AsyncMongoClient[Document] | None = None,
        codec: ContentCodec = PLAIN,
    ) -> None:
        """`url` is a MongoDB connection string (`mongodb://` or `mongodb+srv://`); the
        database is `database`, else the one the URL's path names, else `threadline`.

        `client` replaces the client the URL would make (tests pass a stand-in); it stays the
        caller's to close. `codec` stores content, sealed when it holds keys (encryption.py)."""
        self._codec = codec
        self._owns_client = client is None
        self._client: AsyncMongoClient[Document] = (
            AsyncMongoClient(url, appname="threadline") if client is None else client
        )
        self._db = (
            self._client.get_database(database)
            if database
            else self._client.get_default_database(DEFAULT_DATABASE)
        )
        self._responses: Collection = self._db[RESPONSES]
        self._items: Collection = self._db[ITEMS]
        self._conversations: Collection = self._db[CONVERSATIONS]
        self._api_keys: Collection = self._db[API_KEYS]
        self._jobs: Collection = self._db[BACKGROUND_JOBS]
        self._events: Collection = self._db[RESPONSE_EVENTS]
        self._endpoints: Collection = self._db[WEBHOOK_ENDPOINTS]
        self._deliveries: Collection = self._db[WEBHOOK_DELIVERIES]
        self._changes: Collection = self._db[CHANGES]

    async def aggregate(self, collection: Collection, pipeline: list[Document]) -> list[Document]:
        """Every document of the aggregation, in one round trip up to MongoDB's 16 MB batch:
        the default first batch of 101 documents would add a getMore per hundred items."""
        cursor = await collection.aggregate(pipeline, batchSize=RESULT_BATCH)
        return await cursor.to_list()

    async def transaction(self, work: Callable[[Session], Coroutine[Any, Any, T]]) -> T:
        async with self._client.start_session() as session:
            return await session.with_transaction(work)
