"""Which MongoDB the storage tests run on.

With THREADLINE_TEST_MONGODB_URL set (a replica set, e.g. mongodb://127.0.0.1:27017/?replicaSet=rs0,
on which the tests may create and drop databases), a real server: the backend id is `mongodb`.
Without it, the in-process stand-in of mongo_standin.py, and the id says `mongodb-standin`, so
a report never passes a stand-in run off as a MongoDB one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from tests.storage.mongo_standin import MongoStandIn
from threadline.storage.mongo import MongoStore
from threadline.storage.mongo.schema import (
    API_KEYS,
    CHAT_COMPLETIONS,
    CONVERSATIONS,
    ITEMS,
    RESPONSES,
)

MONGODB_URL = os.environ.get("THREADLINE_TEST_MONGODB_URL")
MONGODB_BACKEND = "mongodb" if MONGODB_URL else "mongodb-standin"
STANDIN_URL = "mongodb://standin.invalid/threadline"


@contextmanager
def temporary_mongo_database(label: str) -> Iterator[str]:
    """A database name of the caller's own on the real server, dropped afterwards."""
    name = f"threadline_test_{label}_{secrets.token_hex(4)}"
    try:
        yield name
    finally:
        if MONGODB_URL is not None:
            from pymongo import MongoClient

            with MongoClient(MONGODB_URL) as client:
                client.drop_database(name)


async def open_mongo_store(database: str | None, standin: MongoStandIn | None = None) -> MongoStore:
    """A migrated, empty MongoStore: on `database` of the real server, else on `standin` (a
    fresh stand-in when None)."""
    if MONGODB_URL is None:
        server = standin or MongoStandIn()
        store = MongoStore(STANDIN_URL, client=server.client())
        await store.migrate()
        return store
    store = MongoStore(MONGODB_URL, database=database)
    await store.migrate()
    for name in (ITEMS, RESPONSES, CONVERSATIONS, API_KEYS, CHAT_COMPLETIONS):
        await store._db[name].delete_many({})
    return store
