"""Re-sealing stored content in the SQL store (storage/resealing.py).

Each table that holds content is walked in primary-key order, a batch per write transaction,
reading only the rows whose content is not sealed under the ring's first key (a prefix test:
`tle1:<id>:`). A row is updated only where its content is still what was read, so a turn
finishing meanwhile keeps what it wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, or_, select, tuple_, update
from sqlalchemy.engine import Connection

from threadline.storage.encryption import PREFIX, ContentCodec
from threadline.storage.item_search import ItemSearch
from threadline.storage.resealing import RESEAL_BATCH, ContentResealing, Progress
from threadline.storage.sql.databases import Database
from threadline.storage.sql.item_search import reindex_items
from threadline.storage.sql.tables import (
    background_jobs,
    chat_completions,
    items,
    response_events,
    responses,
)


@dataclass(frozen=True, slots=True)
class _Sealed:
    kind: str
    table: Table
    key: tuple[str, ...]
    columns: tuple[str, ...]


_SEALED = (
    _Sealed("items", items, ("seq",), ("data",)),
    _Sealed("responses", responses, ("id",), ("settings",)),
    _Sealed("chat_completions", chat_completions, ("id",), ("messages", "completion")),
    _Sealed("response_events", response_events, ("response_id", "sequence_number"), ("data",)),
    _Sealed("background_jobs", background_jobs, ("seq",), ("request",)),
)


def reseal_batch(
    conn: Connection,
    codec: ContentCodec,
    sealed: _Sealed,
    after: tuple[Any, ...] | None,
    batch: int,
) -> tuple[int, tuple[Any, ...] | None]:
    """Re-seal up to `batch` stale rows after the key `after`; (rows re-sealed, the last key
    read, None when the table is done)."""
    table = sealed.table
    keys = [table.c[name] for name in sealed.key]
    columns = [table.c[name] for name in sealed.columns]
    stmt = select(*keys, *columns).where(or_(*(_stale(codec, column) for column in columns)))
    if after is not None:
        stmt = stmt.where(_after(keys, after))
    rows = conn.execute(stmt.order_by(*keys).limit(batch)).all()
    if not rows:
        return 0, None
    width = len(keys)
    resealed = 0
    reindexed: list[tuple[int, str, str]] = []
    for row in rows:
        key, old = tuple(row[:width]), tuple(row[width:])
        new = [codec.restored(value) for value in old]
        changed = conn.execute(
            update(table)
            .where(*(k == v for k, v in zip(keys, key, strict=True)))
            .where(*(c == v for c, v in zip(columns, old, strict=True)))
            .values({c.name: v for c, v in zip(columns, new, strict=True)})
        )
        if changed.rowcount:
            resealed += 1
            if table is items:
                reindexed.append((key[0], "", new[0]))
    if reindexed:
        _reindex(conn, codec, reindexed)
    return resealed, tuple(rows[-1][:width])


def _reindex(conn: Connection, codec: ContentCodec, rows: list[tuple[int, str, str]]) -> None:
    tenants = dict(
        conn.execute(
            select(items.c.seq, items.c.tenant).where(items.c.seq.in_([seq for seq, _, _ in rows]))
        ).all()
    )
    reindex_items(
        conn, codec, [(seq, tenants[seq], data) for seq, _, data in rows if seq in tenants]
    )


def _stale(codec: ContentCodec, column: Column[Any]) -> ColumnElement[bool]:
    if codec.ring is None:
        return column.startswith(PREFIX)
    return ~column.startswith(f"{PREFIX}{codec.ring.active.id}:", autoescape=True)


def _after(keys: list[Column[Any]], after: tuple[Any, ...]) -> ColumnElement[bool]:
    later: ColumnElement[bool] = (
        keys[0] > after[0] if len(keys) == 1 else tuple_(*keys) > tuple_(*after)
    )
    return later


class SqlResealing(ItemSearch, ContentResealing):
    """`refresh_search_index` is SqlItemSearch's (before ItemSearch in SqlStore's order)."""

    _db: Database
    _codec: ContentCodec

    async def reseal_content(
        self, *, batch: int = RESEAL_BATCH, progress: Progress | None = None
    ) -> dict[str, int]:
        # Every item is in the index first: one re-sealed before it was indexed is indexed
        # with the rest, later (item_search.py's `reindex_items` leaves it out).
        await self.refresh_search_index()
        counts: dict[str, int] = {}
        for sealed in _SEALED:
            done, after = 0, None
            while True:
                resealed, after = await self._db.write(
                    reseal_batch, self._codec, sealed, after, batch
                )
                done += resealed
                if progress is not None:
                    progress(sealed.kind, done)
                if after is None:
                    break
            counts[sealed.kind] = done
        return counts
