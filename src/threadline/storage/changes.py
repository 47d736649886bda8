"""The change feed: what changed in a tenant's data, in an order a reader can resume from.

A pipeline export (engine/export.py) reads it to send a mirror what it lacks. Each exported
object has one entry: a response, a conversation, an item placed in a conversation (keyed by
the conversation and its position, because an item id may repeat), a stored chat completion.
Every write that changes the object moves its entry to the end of the feed, in the write's own
transaction; a delete leaves a *tombstone* in its place, kept until `forget_tombstones`.

What each backend guarantees
- An entry's `position` is past every position a reader could have been given before the write
  committed: a reader that resumes after the last position it was given never misses a change,
  even one whose transaction took its number before another's and committed after it (on
  PostgreSQL, read_changes only returns changes older than every transaction still running).
- An object changed N times between two reads appears once, as it is now; readers upsert.
- Entries are scoped to a tenant like everything else.
- A live entry comes with its object as it is now, read with the page (a handful of queries per
  page, not per entry); an object deleted since its entry was read comes without it (None), and
  its tombstone is further on in the feed.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from threadline.storage.base import (
        ConversationRecord,
        Store,
        StoredCompletion,
        StoredResponse,
    )

ChangeKind = Literal["response", "conversation", "conversation.item", "chat.completion"]


@dataclass(slots=True, frozen=True, order=True)
class ChangePosition:
    """Where an entry sits in the feed. `txid` orders PostgreSQL's transactions (0 elsewhere);
    `seq` orders the entries within it."""

    txid: int
    seq: int


_ALL = 2**31 - 1

FEED_START = ChangePosition(-1, -1)
"""Before every entry: a read from here returns every live object and every kept tombstone."""


@dataclass(slots=True)
class Change:
    kind: ChangeKind
    key: str
    """The object's id; for a conversation item, `<conversation id>:<position>`."""
    position: ChangePosition
    deleted: bool
    changed_at: float
    conversation_id: str | None = None
    conversation_position: int | None = None
    """Where a conversation item sits (its conversation's item positions never repeat)."""
    item: dict[str, Any] | None = None
    """A conversation item's content (None for a tombstone, as every object below)."""
    response: StoredResponse | None = None
    input_items: list[dict[str, Any]] | None = None
    """A response's input items, in position order."""
    conversation: ConversationRecord | None = None
    completion: StoredCompletion | None = None


@dataclass(slots=True)
class ChangePage:
    changes: list[Change]
    next: ChangePosition
    """Where the next read starts: after the last entry returned, or where this one did."""


class ChangeFeed(abc.ABC):
    @abc.abstractmethod
    async def read_changes(
        self, tenant: str, *, after: ChangePosition, since: float | None, limit: int
    ) -> ChangePage:
        """Up to `limit` of the tenant's entries past `after`, in feed order; with `since`,
        only those changed at or after it."""

    @abc.abstractmethod
    async def forget_tombstones(self, before: float) -> int:
        """Drop the tombstones of deletes before `before` (all tenants); how many."""


async def attach_objects(store: Store, tenant: str, found: list[Change]) -> None:
    """Each live entry's object, through the store's own reads (one per entry)."""
    for change in found:
        if change.deleted:
            continue
        if change.kind == "response":
            change.response = await store.get_response(tenant, change.key)
            page = await store.list_input_items(
                tenant, change.key, after=None, limit=_ALL, order="asc"
            )
            change.input_items = None if page is None else page.items
        elif change.kind == "conversation":
            change.conversation = await store.get_conversation(tenant, change.key)
        elif change.kind == "chat.completion":
            change.completion = await store.get_completion(tenant, change.key)
