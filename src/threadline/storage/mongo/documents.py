"""The MongoDB documents, and the mapping between them and the storage records.

Item content, response settings, usage and errors are stored as JSON text (orjson), as in the
SQL backends, not as BSON sub-documents: items carry JSON Schemas whose keys (`$ref`, `$defs`)
MongoDB restricts in field names, and integers up to 2**64 - 1, past BSON's signed int64.
What the store queries on (ids, tenant, positions, status, times) are plain BSON fields.
Content goes through the store's `ContentCodec`, sealed when encryption keys are set; an item
whose data is sealed carries its blind search terms in `words` (encryption.py).

Optional item fields are absent rather than null, so the partial unique indexes on
(response_id, position) and (conversation_id, conversation_position) cover exactly the items
that have them. Conversation metadata is a list of {k, v} pairs because a metadata key may hold
any character, including `.` and `$`, which a field path cannot address.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, cast

from threadline.storage.base import (
    ApiKeyRecord,
    ConversationRecord,
    ConversationStatus,
    Item,
    ResponseRecord,
    TenantScope,
)
from threadline.storage.encoding import response_fields, response_from_fields
from threadline.storage.encryption import ContentCodec
from threadline.storage.usage import KeyLimits, KeyQuota

Document = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SerializedItem:
    id: str
    data: str
    words: list[str]
    """Blind search terms, when `data` is sealed (else empty: the data is searched)."""


def serialized_items(items: list[Item], codec: ContentCodec) -> list[SerializedItem]:
    """Each item as stored, all serialized before anything is written."""
    return [SerializedItem(item["id"], codec.dump(item), codec.index_words(item)) for item in items]


def item_document(
    tenant: str,
    created_at: float,
    item: SerializedItem,
    *,
    response_id: str | None = None,
    kind: str | None = None,
    position: int | None = None,
    conversation_id: str | None = None,
    conversation_position: int | None = None,
) -> Document:
    document: Document = {
        "tenant": tenant,
        "item_id": item.id,
        "created_at": created_at,
        "data": item.data,
    }
    if item.words:
        document["words"] = item.words
    optional = {
        "response_id": response_id,
        "kind": kind,
        "position": position,
        "conversation_id": conversation_id,
        "conversation_position": conversation_position,
    }
    document.update((key, value) for key, value in optional.items() if value is not None)
    return document


def loads_item(data: str, codec: ContentCodec) -> Item:
    return cast(Item, codec.load(data))


def item_data(document: Document, codec: ContentCodec) -> Item:
    """The item an item document (or a projection of its `data`) holds."""
    return loads_item(document["data"], codec)


def response_document(
    record: ResponseRecord, conversation_position: int | None, codec: ContentCodec
) -> Document:
    """`previous_response_id` is always present (null at a chain's start): $graphLookup walks it."""
    return {"_id": record.id, **response_fields(record, conversation_position, codec)}


RESPONSE_FIELDS = (
    "_id",
    "tenant",
    "created_at",
    "status",
    "model",
    "settings",
    "previous_response_id",
    "conversation_id",
    "usage",
    "error",
    "incomplete_details",
    "completed_at",
)
"""What a ResponseRecord is read from."""


def response_record(document: Document, codec: ContentCodec) -> ResponseRecord:
    return response_from_fields(document["_id"], document, codec)


def metadata_pairs(metadata: dict[str, str]) -> list[Document]:
    return [{"k": key, "v": value} for key, value in metadata.items()]


def conversation_document(record: ConversationRecord, next_position: int) -> Document:
    return {
        "_id": record.id,
        "tenant": record.tenant,
        "created_at": record.created_at,
        "metadata": metadata_pairs(record.metadata),
        "status": record.status,
        "last_active_at": record.last_active_at,
        "status_changed_at": record.status_changed_at,
        "next_position": next_position,
    }


CONVERSATION_FIELDS = (
    "_id",
    "tenant",
    "created_at",
    "metadata",
    "status",
    "last_active_at",
    "status_changed_at",
)
"""What a ConversationRecord is read from (a projection leaves out the position counter)."""


def conversation_record(document: Document) -> ConversationRecord:
    return ConversationRecord(
        id=document["_id"],
        tenant=document["tenant"],
        created_at=document["created_at"],
        metadata={pair["k"]: pair["v"] for pair in document["metadata"]},
        status=cast(ConversationStatus, document["status"]),
        last_active_at=document["last_active_at"],
        status_changed_at=document.get("status_changed_at"),
    )


def api_key_document(key: ApiKeyRecord) -> Document:
    """`active_name` exists only while the key is live: its unique index lets a revoked key's
    name be given to a new key."""
    document: Document = {
        "_id": key.id,
        "tenant": key.tenant,
        "name": key.name,
        "key_hash": key.key_hash,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
        "default_store": key.default_store,
        "limits": limits_document(key.limits),
    }
    if key.revoked_at is None:
        document["active_name"] = key.name
    return document


def api_key_record(document: Document) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=document["_id"],
        tenant=document["tenant"],
        name=document["name"],
        key_hash=document["key_hash"],
        created_at=document["created_at"],
        revoked_at=document.get("revoked_at"),
        default_store=document.get("default_store"),
        limits=_limits(document.get("limits") or {}),
    )


def limits_document(limits: KeyLimits) -> Document:
    return {
        "expires_at": limits.expires_at,
        "models": None if limits.models is None else list(limits.models),
        **dataclasses.asdict(limits.quota),
    }


def _limits(document: Document) -> KeyLimits:
    models = document.get("models")
    return KeyLimits(
        expires_at=document.get("expires_at"),
        models=None if models is None else tuple(models),
        quota=KeyQuota(
            requests_per_minute=document.get("requests_per_minute"),
            tokens_per_minute=document.get("tokens_per_minute"),
            daily_budget=document.get("daily_budget"),
            monthly_budget=document.get("monthly_budget"),
        ),
    )


def tenants_in(scope: TenantScope) -> Document:
    """The filter on `tenant` of a retention sweep's scope."""
    if scope.only is not None:
        return {"tenant": scope.only}
    return {"tenant": {"$nin": sorted(scope.excluding)}} if scope.excluding else {}


def owned_documents(
    record: ResponseRecord, serialized: list[SerializedItem], *, inputs: int, first: int = 0
) -> list[Document]:
    """Item documents owned by the response, at positions `first`…; the first `inputs` of them
    are its input, the rest its output."""
    return [
        item_document(
            record.tenant,
            record.created_at,
            item,
            response_id=record.id,
            kind="input" if offset < inputs else "output",
            position=first + offset,
        )
        for offset, item in enumerate(serialized)
    ]
