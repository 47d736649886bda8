"""The MongoDB backend (see store.py); needs a replica set, see docs/storage-mongodb.md."""

from threadline.storage.mongo.store import MongoStore

__all__ = ["MongoStore"]
