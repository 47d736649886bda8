"""How stored values become text, shared by every database backend.

Item content, response settings, usage and errors are kept as JSON text (orjson), not as the
database's own JSON type: the SQL and MongoDB stores then hold byte-identical content, and
values a document database restricts (`$ref` keys, integers beyond 64 bits) round-trip.
Content (items, settings, chat completions, requests, stream events) goes through the store's
`ContentCodec` (encryption.py), which seals it when the operator has set encryption keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from threadline.storage.base import ResponseRecord
from threadline.storage.encryption import ContentCodec


def dumps(value: Any) -> str:
    """JSON text for a stored value; raises TypeError (orjson's) for what JSON cannot hold."""
    return orjson.dumps(value).decode()


def loads_or_none(value: str | None) -> Any:
    return None if value is None else orjson.loads(value)


def response_fields(
    record: ResponseRecord, conversation_position: int | None, codec: ContentCodec
) -> dict[str, Any]:
    """A response's stored fields, without its id (each backend names the key its own way).
    Its settings are content (they hold the instructions): `codec` seals them."""
    return {
        "tenant": record.tenant,
        "created_at": record.created_at,
        "status": record.status,
        "model": record.model,
        "settings": codec.dump(record.settings),
        "previous_response_id": record.previous_response_id,
        "conversation_id": record.conversation_id,
        "conversation_position": conversation_position,
        "usage": None if record.usage is None else dumps(record.usage),
        "error": None if record.error is None else dumps(record.error),
        "incomplete_details": (
            None if record.incomplete_details is None else dumps(record.incomplete_details)
        ),
        "completed_at": record.completed_at,
    }


def response_from_fields(
    response_id: str, fields: Mapping[str, Any], codec: ContentCodec
) -> ResponseRecord:
    return ResponseRecord(
        id=response_id,
        tenant=fields["tenant"],
        created_at=fields["created_at"],
        status=fields["status"],
        model=fields["model"],
        settings=codec.load(fields["settings"]),
        previous_response_id=fields.get("previous_response_id"),
        conversation_id=fields.get("conversation_id"),
        usage=loads_or_none(fields.get("usage")),
        error=loads_or_none(fields.get("error")),
        incomplete_details=loads_or_none(fields.get("incomplete_details")),
        completed_at=fields.get("completed_at"),
    )
