"""Item documents: placing them at the end of a conversation, releasing them, paging them.

Shared by the response and conversation halves of MongoStore, because a turn's items are both.
"""

from __future__ import annotations

from pymongo import ReturnDocument

from threadline.errors import InvalidRequest
from threadline.storage.base import ItemPage, Order
from threadline.storage.encryption import ContentCodec
from threadline.storage.mongo.connection import Collection, Session
from threadline.storage.mongo.documents import Document, item_data


async def claim_positions(
    conversations: Collection,
    session: Session,
    tenant: str,
    conversation_id: str,
    count: int,
    active_at: float,
) -> int | None:
    """Reserve `count` positions at the end of the conversation and mark it active; the first
    position, or None if the conversation does not exist for this tenant.

    The update writes the conversation document inside the caller's transaction, so a
    concurrent transaction that claims positions on the same conversation meets a write
    conflict and is run again after this one commits: ranges never overlap, and they are
    handed out in commit order."""
    before = await conversations.find_one_and_update(
        {"_id": conversation_id, "tenant": tenant},
        {"$inc": {"next_position": count}, "$max": {"last_active_at": active_at}},
        projection={"next_position": 1},
        return_document=ReturnDocument.BEFORE,
        session=session,
    )
    return None if before is None else int(before["next_position"])


def place_in_conversation(documents: list[Document], conversation_id: str, start: int) -> None:
    for offset, document in enumerate(documents):
        document["conversation_id"] = conversation_id
        document["conversation_position"] = start + offset


async def release_items(items: Collection, session: Session, owned_by: Document) -> None:
    """Before responses are deleted: drop the items they own outside any conversation, and
    keep the conversation's ones as conversation-only items."""
    await items.delete_many({**owned_by, "conversation_id": {"$exists": False}}, session=session)
    await items.update_many(
        owned_by, {"$unset": {"response_id": "", "kind": "", "position": ""}}, session=session
    )


async def item_page(
    items: Collection,
    codec: ContentCodec,
    members: Document,
    key: str,
    *,
    after: str | None,
    limit: int,
    order: Order,
) -> ItemPage:
    """A page of the items matching `members`, ordered by `key`, starting after the item
    `after`, which must be one of them (InvalidRequest otherwise)."""
    query = dict(members)
    if after is not None:
        anchor = await items.find_one(
            {**members, "item_id": after}, projection={key: 1}, sort=[(key, 1)]
        )
        if anchor is None:
            raise InvalidRequest(f"No item with id '{after}' in this list", param="after")
        query[key] = {"$gt" if order == "asc" else "$lt": anchor[key]}
    direction = 1 if order == "asc" else -1
    cursor = items.find(query, projection={"_id": 0, "data": 1}, sort=[(key, direction)])
    found = await cursor.limit(limit + 1).to_list()
    return ItemPage(items=[item_data(d, codec) for d in found[:limit]], has_more=len(found) > limit)
