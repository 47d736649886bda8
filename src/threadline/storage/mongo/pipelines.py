"""The aggregations that carry the one-round-trip promises, and the sorting of what they return.

Each returns one small document per item, never the history as one document: a document
returned by an aggregation (or built by a `$lookup` not followed by `$unwind`) is limited to
16 MB, which a context holding images can pass. Every `$lookup` here is followed by its `$unwind`,
which MongoDB runs as one streaming step. The documents come back in no useful order and are
sorted here by the keys they carry, which is cheaper than a blocking `$sort` on the server.

MongoDB 5.0 or newer is needed for the `$lookup` form that has both `localField` and `pipeline`.
"""

from __future__ import annotations

from typing import Any

from threadline.storage.base import Item
from threadline.storage.encryption import ContentCodec
from threadline.storage.mongo.documents import (
    CONVERSATION_FIELDS,
    RESPONSE_FIELDS,
    Document,
    item_data,
    loads_item,
)
from threadline.storage.mongo.schema import ITEMS, RESPONSES

Pipeline = list[dict[str, Any]]

# `false` is what a lookup key is set to when a source must match no item: no stored item has a
# boolean response or conversation id, and an index finds that out at once (a null key would
# instead match every item that lacks the field).
_NO_MATCH = False


def chain_context(tenant: str, response_id: str) -> Pipeline:
    """Documents for `load_chain`: none if the response does not exist for the tenant, else at
    least one, each with `depth` (0 for the response, 1 for its previous…) and either `owned`
    (an item of a response of the chain) or `prefix` (a conversation item that precedes the
    chain's oldest response) or neither (a response without items); a response's own documents
    carry its `status`."""
    deepest = {"$subtract": [{"$size": "$chain"}, 1]}
    return [
        {"$match": {"_id": response_id, "tenant": tenant}},
        # Starting from the response itself puts it in `chain` at depth 0.
        {
            "$graphLookup": {
                "from": RESPONSES,
                "startWith": "$_id",
                "connectFromField": "previous_response_id",
                "connectToField": "_id",
                "as": "chain",
                "depthField": "depth",
                "restrictSearchWithMatch": {"tenant": tenant},
            }
        },
        # One source per response of the chain (its own items), and one for the oldest
        # response (the conversation items before it).
        {
            "$project": {
                "_id": 0,
                "sources": {
                    "$concatArrays": [
                        {
                            "$map": {
                                "input": "$chain",
                                "as": "link",
                                "in": {
                                    "response_id": "$$link._id",
                                    "depth": "$$link.depth",
                                    "status": "$$link.status",
                                    "conversation_id": _NO_MATCH,
                                },
                            }
                        },
                        {
                            "$map": {
                                "input": {
                                    "$filter": {
                                        "input": "$chain",
                                        "as": "link",
                                        "cond": {"$eq": ["$$link.depth", deepest]},
                                    }
                                },
                                "as": "oldest",
                                "in": {
                                    "response_id": _NO_MATCH,
                                    "depth": "$$oldest.depth",
                                    "conversation_id": {
                                        "$ifNull": ["$$oldest.conversation_id", _NO_MATCH]
                                    },
                                    "end": {"$ifNull": ["$$oldest.conversation_position", -1]},
                                },
                            }
                        },
                    ]
                },
            }
        },
        {"$unwind": "$sources"},
        {"$replaceRoot": {"newRoot": "$sources"}},
        {
            "$lookup": {
                "from": ITEMS,
                "localField": "response_id",
                "foreignField": "response_id",
                "as": "owned",
            }
        },
        {"$unwind": {"path": "$owned", "preserveNullAndEmptyArrays": True}},
        {
            "$lookup": {
                "from": ITEMS,
                "localField": "conversation_id",
                "foreignField": "conversation_id",
                "let": {"end": "$end"},
                "pipeline": [
                    {"$match": {"tenant": tenant}},
                    {"$match": {"$expr": {"$lt": ["$conversation_position", "$$end"]}}},
                ],
                "as": "prefix",
            }
        },
        {"$unwind": {"path": "$prefix", "preserveNullAndEmptyArrays": True}},
        {
            "$project": {
                "_id": 0,
                "depth": 1,
                "status": 1,
                "owned.position": 1,
                "owned.data": 1,
                "prefix.conversation_position": 1,
                "prefix.data": 1,
            }
        },
    ]


def chain_items(documents: list[Document], codec: ContentCodec) -> list[Item]:
    """The context from `chain_context`'s documents: the conversation prefix, then each
    response's items, oldest response first, each in position order."""
    keyed: list[tuple[tuple[int, int, int], str]] = []
    for document in documents:
        if "prefix" in document:
            prefix = document["prefix"]
            keyed.append(((0, 0, prefix["conversation_position"]), prefix["data"]))
        elif "owned" in document:
            owned = document["owned"]
            keyed.append(((1, -document["depth"], owned["position"]), owned["data"]))
    keyed.sort(key=lambda pair: pair[0])
    return [loads_item(data, codec) for _, data in keyed]


def response_with_output(tenant: str, response_id: str) -> Pipeline:
    """The response document once per output item (in `item`), or once without `item`."""
    return [
        {"$match": {"_id": response_id, "tenant": tenant}},
        {
            "$lookup": {
                "from": ITEMS,
                "localField": "_id",
                "foreignField": "response_id",
                "pipeline": [{"$match": {"kind": "output"}}],
                "as": "item",
            }
        },
        {"$unwind": {"path": "$item", "preserveNullAndEmptyArrays": True}},
        {"$project": {**dict.fromkeys(RESPONSE_FIELDS, 1), "item.position": 1, "item.data": 1}},
    ]


def conversation_with_items(tenant: str, conversation_id: str) -> Pipeline:
    """The conversation document once per item (in `item`), or once without `item`."""
    return [
        {"$match": {"_id": conversation_id, "tenant": tenant}},
        {
            "$lookup": {
                "from": ITEMS,
                "localField": "_id",
                "foreignField": "conversation_id",
                "as": "item",
            }
        },
        {"$unwind": {"path": "$item", "preserveNullAndEmptyArrays": True}},
        {
            "$project": {
                **dict.fromkeys(CONVERSATION_FIELDS, 1),
                "item.conversation_position": 1,
                "item.data": 1,
            }
        },
    ]


def items_in_order(documents: list[Document], key: str, codec: ContentCodec) -> list[Item]:
    """The items of `response_with_output` / `conversation_with_items` documents, by `key`."""
    found = [document["item"] for document in documents if "item" in document]
    found.sort(key=lambda item: item[key])
    return [item_data(item, codec) for item in found]
