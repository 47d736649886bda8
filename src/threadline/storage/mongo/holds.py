"""The legal holds of the MongoDB store (storage/holds.py): `legal_holds`."""

from __future__ import annotations

from typing import cast

from threadline.storage.holds import HoldKind, LegalHold, LegalHolds
from threadline.storage.mongo.connection import MongoConnection
from threadline.storage.mongo.documents import Document
from threadline.storage.mongo.schema import LEGAL_HOLDS


def _hold_id(tenant: str, kind: str, target: str) -> Document:
    return {"tenant": tenant, "kind": kind, "target": target}


class HoldMethods(MongoConnection, LegalHolds):
    async def place_hold(self, hold: LegalHold) -> None:
        await self._db[LEGAL_HOLDS].update_one(
            {"_id": _hold_id(hold.tenant, hold.kind, hold.target)},
            {"$set": {"reason": hold.reason}, "$setOnInsert": {"placed_at": hold.placed_at}},
            upsert=True,
        )

    async def release_hold(self, tenant: str, kind: HoldKind, target: str) -> bool:
        result = await self._db[LEGAL_HOLDS].delete_one({"_id": _hold_id(tenant, kind, target)})
        return result.deleted_count > 0

    async def list_holds(self, tenant: str | None = None) -> list[LegalHold]:
        query: Document = {} if tenant is None else {"_id.tenant": tenant}
        found = await self._db[LEGAL_HOLDS].find(query).to_list()
        holds = [
            LegalHold(
                d["_id"]["tenant"],
                cast(HoldKind, d["_id"]["kind"]),
                d["_id"]["target"],
                d["reason"],
                d["placed_at"],
            )
            for d in found
        ]
        return sorted(holds, key=lambda h: (h.tenant, h.kind, h.target))
