"""The legal hold contract: what must not be deleted, by erasure or retention, until released.

A hold is on a whole tenant, on one conversation (by id), or on one end user (by how requests
name them: `user:<value>`, `safety_identifier:<value>`, `metadata:<key>=<value>`). Placing a
hold again replaces its reason; releasing one that is not there is a no-op that says so.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Literal

HoldKind = Literal["tenant", "conversation", "end_user"]
HOLD_KINDS: tuple[HoldKind, ...] = ("tenant", "conversation", "end_user")


@dataclass(frozen=True, slots=True)
class LegalHold:
    tenant: str
    kind: HoldKind
    target: str
    """The conversation id, the end user (`user:ann`…), or empty for the whole tenant."""
    reason: str
    placed_at: float


class LegalHolds(abc.ABC):
    """The part of `Store` that keeps legal holds (see the module docstring)."""

    @abc.abstractmethod
    async def place_hold(self, hold: LegalHold) -> None: ...

    @abc.abstractmethod
    async def release_hold(self, tenant: str, kind: HoldKind, target: str) -> bool: ...

    @abc.abstractmethod
    async def list_holds(self, tenant: str | None = None) -> list[LegalHold]:
        """Every hold (of one tenant), by tenant, kind and target."""
