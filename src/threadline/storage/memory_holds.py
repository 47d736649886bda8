"""The legal holds of MemoryStore (see memory.py and storage/holds.py)."""

from __future__ import annotations

import dataclasses

from threadline.storage.holds import HoldKind, LegalHold, LegalHolds


class MemoryHolds(LegalHolds):
    def __init__(self) -> None:
        self._holds: dict[tuple[str, str, str], LegalHold] = {}

    async def place_hold(self, hold: LegalHold) -> None:
        key = (hold.tenant, hold.kind, hold.target)
        kept = self._holds.get(key)
        self._holds[key] = hold if kept is None else dataclasses.replace(kept, reason=hold.reason)

    async def release_hold(self, tenant: str, kind: HoldKind, target: str) -> bool:
        return self._holds.pop((tenant, kind, target), None) is not None

    async def list_holds(self, tenant: str | None = None) -> list[LegalHold]:
        return [
            self._holds[key] for key in sorted(self._holds) if tenant is None or key[0] == tenant
        ]
