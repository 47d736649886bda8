"""The change feed of MongoStore (storage/changes.py): a `changes` collection with one document
per exported object (`_id` is `<kind>:<key>`), rewritten by each write in its own transaction.

Feed numbers come from one counter document (`threadline_meta`, `change_seq`) that every such
transaction increments. Two transactions that both increment it conflict, and the driver runs
the later one again once the first has committed, so numbers are handed out in commit order
and a reader resuming after a number never misses an earlier one. The price is that writes
which enter changes take turns on that document; a deployment that needs more write
concurrency than one counter allows should export from PostgreSQL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from pymongo import ReturnDocument, UpdateOne

from threadline.storage.changes import (
    Change,
    ChangeKind,
    ChangePage,
    ChangePosition,
    attach_objects,
)
from threadline.storage.mongo.connection import MongoConnection, Session
from threadline.storage.mongo.documents import Document, item_data
from threadline.storage.mongo.schema import CHANGE_SEQ_ID, META

if TYPE_CHECKING:
    from threadline.storage.base import Store

_ITEM: ChangeKind = "conversation.item"


@dataclass(slots=True, frozen=True)
class Entry:
    kind: ChangeKind
    key: str
    tenant: str
    deleted: bool = False
    conversation_id: str | None = None
    position: int | None = None


def entry(kind: ChangeKind, key: str, tenant: str, *, deleted: bool = False) -> Entry:
    return Entry(kind, key, tenant, deleted)


def item_entries(
    tenant: str, conversation_id: str, positions: range | list[int], *, deleted: bool = False
) -> list[Entry]:
    return [
        Entry(_ITEM, f"{conversation_id}:{p}", tenant, deleted, conversation_id, p)
        for p in positions
    ]


def entry_update(change: Entry, seq: int, changed_at: float) -> UpdateOne:
    fields = {
        "kind": change.kind,
        "tenant": change.tenant,
        "seq": seq,
        "deleted": change.deleted,
        "changed_at": changed_at,
        "conversation_id": change.conversation_id,
        "position": change.position,
    }
    return UpdateOne({"_id": f"{change.kind}:{change.key}"}, {"$set": fields}, upsert=True)


class ChangeMethods(MongoConnection):
    async def enter_changes(self, session: Session, changes: list[Entry]) -> None:
        """Move these objects' entries to the end of the feed, inside `session`'s transaction."""
        if not changes:
            return
        counter = await self._db[META].find_one_and_update(
            {"_id": CHANGE_SEQ_ID},
            {"$inc": {"seq": len(changes)}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        first = int(cast(Document, counter)["seq"]) - len(changes) + 1
        now = time.time()
        updates = [entry_update(c, first + n, now) for n, c in enumerate(changes)]
        await self._changes.bulk_write(updates, ordered=True, session=session)

    async def read_changes(
        self, tenant: str, *, after: ChangePosition, since: float | None, limit: int
    ) -> ChangePage:
        query: Document = {"tenant": tenant}
        if after.txid >= 0:
            query["seq"] = {"$gt": after.seq}
        if since is not None:
            query["changed_at"] = {"$gte": since}
        documents = await self._changes.find(query, sort=[("seq", 1)]).limit(limit).to_list()
        contents = await self._placed_items(documents)
        found = [
            Change(
                kind=d["kind"],
                key=d["_id"].split(":", 1)[1],
                position=ChangePosition(0, int(d["seq"])),
                deleted=bool(d["deleted"]),
                changed_at=float(d["changed_at"]),
                conversation_id=d.get("conversation_id"),
                conversation_position=d.get("position"),
                item=contents.get((d.get("conversation_id"), d.get("position"))),
            )
            for d in documents
        ]
        await attach_objects(cast("Store", self), tenant, found)
        return ChangePage(found, found[-1].position if found else after)

    async def _placed_items(self, documents: list[Document]) -> dict[tuple[Any, Any], Document]:
        """The content of the live conversation items among `documents`, by (conversation,
        position)."""
        wanted = [d for d in documents if d["kind"] == _ITEM and not d["deleted"]]
        if not wanted:
            return {}
        cursor = self._items.find(
            {
                "conversation_id": {"$in": list({d["conversation_id"] for d in wanted})},
                "conversation_position": {"$in": list({d["position"] for d in wanted})},
            },
            projection={"_id": 0, "conversation_id": 1, "conversation_position": 1, "data": 1},
        )
        return {
            (found["conversation_id"], found["conversation_position"]): item_data(
                found, self._codec
            )
            for found in await cursor.to_list()
        }

    async def forget_tombstones(self, before: float) -> int:
        gone = await self._changes.delete_many({"deleted": True, "changed_at": {"$lt": before}})
        return int(gone.deleted_count)
