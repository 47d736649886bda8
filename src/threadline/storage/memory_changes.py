"""The change feed of MemoryStore (storage/changes.py): each write method of the store enters
what it changed by calling `_changed`, in the same uninterrupted step as the change itself."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from threadline.storage.changes import (
    Change,
    ChangeKind,
    ChangePage,
    ChangePosition,
    attach_objects,
)

if TYPE_CHECKING:
    from threadline.storage.base import ConversationRecord, ResponseRecord, Store


@dataclass(slots=True)
class _Entry:
    kind: ChangeKind
    key: str
    tenant: str
    seq: int
    deleted: bool
    changed_at: float
    conversation_id: str | None
    conversation_position: int | None
    content: Callable[[], dict[str, Any]] | None
    """Reads a conversation item's content (the row is the store's; it is read, not held)."""


class MemoryChanges:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._change_seq = itertools.count(1)

    def _changed(
        self,
        kind: ChangeKind,
        key: str,
        tenant: str,
        *,
        deleted: bool = False,
        conversation_id: str | None = None,
        conversation_position: int | None = None,
        content: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        # Re-inserted so the dict stays in feed order: a read walks it from the oldest entry.
        self._entries.pop((kind, key), None)
        self._entries[(kind, key)] = _Entry(
            kind,
            key,
            tenant,
            next(self._change_seq),
            deleted,
            time.time(),
            conversation_id,
            conversation_position,
            None if deleted else content,
        )

    def _item_changed(
        self,
        tenant: str,
        conversation_id: str,
        position: int,
        content: Callable[[], dict[str, Any]] | None,
    ) -> None:
        self._changed(
            "conversation.item",
            f"{conversation_id}:{position}",
            tenant,
            deleted=content is None,
            conversation_id=conversation_id,
            conversation_position=position,
            content=content,
        )

    def _response_changed(self, record: ResponseRecord) -> None:
        self._changed("response", record.id, record.tenant)

    def _conversation_changed(self, record: ConversationRecord) -> None:
        self._changed("conversation", record.id, record.tenant)

    def _item_left(self, tenant: str, conversation_id: str | None, position: int | None) -> None:
        if conversation_id is not None and position is not None:
            self._item_changed(tenant, conversation_id, position, None)

    async def read_changes(
        self, tenant: str, *, after: ChangePosition, since: float | None, limit: int
    ) -> ChangePage:
        found: list[Change] = []
        for entry in self._entries.values():
            if len(found) == limit:
                break
            position = ChangePosition(0, entry.seq)
            if entry.tenant != tenant or position <= after:
                continue
            if since is not None and entry.changed_at < since:
                continue
            found.append(
                Change(
                    kind=entry.kind,
                    key=entry.key,
                    position=position,
                    deleted=entry.deleted,
                    changed_at=entry.changed_at,
                    conversation_id=entry.conversation_id,
                    conversation_position=entry.conversation_position,
                    item=None if entry.content is None else entry.content(),
                )
            )
        # No read here awaits anything, so the objects are read as they were with the entries.
        await attach_objects(cast("Store", self), tenant, found)
        return ChangePage(found, found[-1].position if found else after)

    async def forget_tombstones(self, before: float) -> int:
        gone = [k for k, e in self._entries.items() if e.deleted and e.changed_at < before]
        for key in gone:
            del self._entries[key]
        return len(gone)
