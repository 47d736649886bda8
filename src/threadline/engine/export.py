"""Pipeline export: a tenant's stored data as records a mirror can apply in order, read from the
store's change feed (storage/changes.py), so an export from a cursor sends only what changed.

Each record is one object as it is now, or a tombstone for one deleted; a mirror upserts
records by their key and deletes on tombstones (docs/storage.md lists the fields). Keys:
`(type, id)`, except a conversation item, keyed by `(conversation_id, position)` because a
client may put one item id in a conversation twice. The last record of an export is its cursor.

The cursor holds the feed position and when it was issued. Tombstones are forgotten after
`export_tombstone_retention`, so a cursor issued longer ago than that could miss a delete: it
is refused, and the mirror exports again from the start. Memory stays flat however much is
exported: the feed is read a page at a time and each record is handed on before the next page
is read.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from threadline.engine.clock import Clock, system_clock
from threadline.engine.conversations.claims import conversation_object
from threadline.engine.disclosure import Disclosure, shown_items, shown_response
from threadline.engine.responses.response_object import response_object
from threadline.engine.stored_completions import completion_object
from threadline.errors import InvalidRequest
from threadline.storage.base import Store
from threadline.storage.changes import FEED_START, Change, ChangePosition

PAGE = 500
"""Feed entries read per store call."""
_CURSOR = re.compile(r"^tlx1_(-?\d+)_(-?\d+)_(\d+)$")

Record = dict[str, Any]

EXPORTED = Disclosure(reasoning=False, file_search_results=True)
"""An export carries every part of the content, but never a provider's sealed reasoning (it
only opens on this server, and a mirror has no use for it)."""


@dataclass(frozen=True, slots=True)
class ExportCursor:
    position: ChangePosition
    issued_at: float

    def encode(self) -> str:
        return f"tlx1_{self.position.txid}_{self.position.seq}_{int(self.issued_at)}"

    @classmethod
    def decode(cls, text: str) -> ExportCursor:
        match = _CURSOR.match(text)
        if match is None:
            raise InvalidRequest(
                "This is not an export cursor: pass the `cursor` of an earlier export's last "
                "record, or leave it out to export from the start.",
                param="cursor",
                code="invalid_cursor",
            )
        txid, seq, issued = (int(group) for group in match.groups())
        return cls(ChangePosition(txid, seq), float(issued))


class PipelineExport:
    def __init__(
        self, store: Store, *, tombstone_retention: float, clock: Clock = system_clock
    ) -> None:
        self._store = store
        self._tombstone_retention = tombstone_retention
        self._clock = clock

    def start(self, cursor: str | None) -> ChangePosition:
        """Where an export from `cursor` begins (None: the start); refuses a cursor too old to
        be complete, before anything is sent."""
        if cursor is None:
            return FEED_START
        decoded = ExportCursor.decode(cursor)
        if decoded.issued_at < self._clock() - self._tombstone_retention:
            raise InvalidRequest(
                "This export cursor is older than the tombstones the server keeps "
                "(`export_tombstone_retention`), so deletions since may be missing: export "
                "again without a cursor.",
                param="cursor",
                code="cursor_expired",
            )
        return decoded.position

    async def records(
        self,
        tenant: str,
        start: ChangePosition,
        *,
        since: float | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Record]:
        """The records of the tenant's changes past `start` (with `since`, only changes at or
        after it), then the cursor record. With `limit`, at most that many records come before
        the cursor, whose `has_more` says whether the next export has something to send."""
        issued_at = self._clock()
        position, sent, has_more = start, 0, False
        while True:
            want = PAGE if limit is None else min(PAGE, limit - sent + 1)
            page = await self._store.read_changes(tenant, after=position, since=since, limit=want)
            for change in page.changes:
                if limit is not None and sent == limit:
                    has_more = True
                    break
                record = self._record(change)
                position = change.position
                if record is not None:
                    sent += 1
                    yield record
            if has_more or len(page.changes) < want:
                break
        cursor = ExportCursor(position, issued_at).encode()
        yield {"type": "cursor", "cursor": cursor, "records": sent, "has_more": has_more}

    @staticmethod
    def _record(change: Change) -> Record | None:
        """The record of one feed entry; None when the object went after the entry was read
        (its tombstone is further on in the feed)."""
        head: Record = {"type": change.kind, "changed_at": change.changed_at}
        if change.kind == "conversation.item":
            head |= {
                "conversation_id": change.conversation_id,
                "position": change.conversation_position,
            }
            if change.deleted:
                return head | {"deleted": True}
            if change.item is None:
                return None
            return head | {"id": change.item.get("id"), "deleted": False, "item": change.item}
        head["id"] = change.key
        if change.deleted:
            return head | {"deleted": True}
        head["deleted"] = False
        if change.response is not None and change.input_items is not None:
            response = response_object(change.response.record, change.response.output)
            return head | {
                "response": shown_response(response, EXPORTED),
                "input_items": shown_items(change.input_items, EXPORTED),
            }
        if change.conversation is not None:
            return head | {"conversation": conversation_object(change.conversation)}
        if change.completion is not None:
            return head | {
                "chat_completion": completion_object(change.completion),
                "messages": change.completion.messages,
            }
        return None
