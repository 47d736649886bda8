"""The legal holds of the SQL store (storage/holds.py): `legal_holds`."""

from __future__ import annotations

from typing import cast

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from threadline.storage.holds import HoldKind, LegalHold, LegalHolds
from threadline.storage.sql.databases import Database
from threadline.storage.sql.tables import legal_holds as holds


def place_hold(conn: Connection, hold: LegalHold) -> None:
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    values = {
        "tenant": hold.tenant,
        "kind": hold.kind,
        "target": hold.target,
        "reason": hold.reason,
        "placed_at": hold.placed_at,
    }
    upsert = dialect.insert(holds).values(values)
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[holds.c.tenant, holds.c.kind, holds.c.target],
            set_={"reason": hold.reason},
        )
    )


def release_hold(conn: Connection, tenant: str, kind: HoldKind, target: str) -> bool:
    mine = (holds.c.tenant == tenant, holds.c.kind == kind, holds.c.target == target)
    return conn.execute(delete(holds).where(*mine)).rowcount > 0


def list_holds(conn: Connection, tenant: str | None) -> list[LegalHold]:
    stmt = select(holds).order_by(holds.c.tenant, holds.c.kind, holds.c.target)
    if tenant is not None:
        stmt = stmt.where(holds.c.tenant == tenant)
    return [
        LegalHold(r.tenant, cast(HoldKind, r.kind), r.target, r.reason, r.placed_at)
        for r in conn.execute(stmt).all()
    ]


class SqlLegalHolds(LegalHolds):
    _db: Database

    async def place_hold(self, hold: LegalHold) -> None:
        await self._db.write(place_hold, hold)

    async def release_hold(self, tenant: str, kind: HoldKind, target: str) -> bool:
        return await self._db.write(release_hold, tenant, kind, target)

    async def list_holds(self, tenant: str | None = None) -> list[LegalHold]:
        return await self._db.read(list_holds, tenant)
