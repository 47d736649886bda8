"""How much a SQLite database holds: file bytes, payload bytes and rows.

Read from outside the server, between turns: a checkpoint first folds the WAL into the main
file so its size is comparable from one measurement to the next. Payload bytes (from the
`dbstat` table) count every stored byte of every table and index without the page rounding
that makes file sizes jump 4 KiB at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The server's SQLite (storage/sql/engines.py): the standard library's may be too old to open
# its tables (FTS5 `contentless_delete`, SQLite 3.43).
import sqlean as sqlite3  # type: ignore[import-untyped]


@dataclass(frozen=True, slots=True)
class Footprint:
    file_bytes: int
    payload_bytes: int
    rows: dict[str, int]

    def __sub__(self, other: Footprint) -> Footprint:
        return Footprint(
            self.file_bytes - other.file_bytes,
            self.payload_bytes - other.payload_bytes,
            {name: n - other.rows.get(name, 0) for name, n in self.rows.items()},
        )


def measure(path: str) -> Footprint:
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        connection.execute("PRAGMA busy_timeout = 30000")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        rows = {
            name: int(connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
            for name in tables
        }
        payload = int(connection.execute("SELECT sum(payload) FROM dbstat").fetchone()[0] or 0)
    finally:
        connection.close()
    file_bytes = sum(p.stat().st_size for p in (Path(path), Path(path + "-wal")) if p.exists())
    return Footprint(file_bytes, payload, rows)
