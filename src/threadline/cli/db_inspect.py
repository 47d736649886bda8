"""Look at a database without changing it: where it is, its schema version, how much it holds.

Used by `threadline db status` and `threadline doctor`, which must not migrate or create
anything (they report what `db migrate` or the server's start-up would do).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from threadline.storage.factory import redacted, sqlalchemy_url
from threadline.storage.sql.migrate import alembic_config
from threadline.storage.sql.tables import metadata


@dataclass(slots=True)
class DatabaseReport:
    url: str
    """The database URL, password masked."""
    kind: str
    """sqlite, postgresql or memory."""
    path: Path | None = None
    exists: bool = True
    size_bytes: int | None = None
    """SQLite: the file plus its write-ahead log."""
    revision: str | None = None
    head: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def up_to_date(self) -> bool:
        return self.revision is not None and self.revision == self.head

    def as_json(self) -> dict[str, object]:
        return {
            "url": self.url,
            "kind": self.kind,
            "path": str(self.path) if self.path else None,
            "exists": self.exists,
            "size_bytes": self.size_bytes,
            "schema_revision": self.revision,
            "newest_revision": self.head,
            "up_to_date": self.up_to_date,
            "rows": self.counts,
            "error": self.error,
        }


def head_revision() -> str | None:
    """The newest migration this version of Threadline ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def inspect_database(database_url: str) -> DatabaseReport:
    """Report on the database; problems are in `error`, never raised."""
    if database_url == "memory://":
        return DatabaseReport(redacted(database_url), "memory", revision="memory", head="memory")
    try:
        sql_url = sqlalchemy_url(database_url)
    except (OSError, ValueError) as exc:
        return DatabaseReport(redacted(database_url), "unknown", error=str(exc))
    if sql_url is None:
        scheme = database_url.split("://", 1)[0]
        return DatabaseReport(
            redacted(database_url), scheme, error=f"{scheme}:// databases are not supported"
        )
    url = make_url(sql_url)
    report = DatabaseReport(redacted(database_url), url.get_backend_name(), head=head_revision())
    if report.kind == "sqlite":
        report.path = Path(url.database or "")
        report.exists = report.path.is_file()
        if not report.exists:
            return report
        wal = report.path.with_name(report.path.name + "-wal")
        report.size_bytes = report.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    engine = create_async_engine(sql_url)
    try:
        async with engine.connect() as conn:
            report.revision = await conn.run_sync(_current_revision)
            if report.up_to_date:  # an older schema may lack tables this version counts
                report.counts = await conn.run_sync(_row_counts)
    except Exception as exc:  # any driver error means "cannot be read", which is the report
        report.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        await engine.dispose()
    return report


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _row_counts(connection: Connection) -> dict[str, int]:
    return {
        table.name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
        for table in metadata.sorted_tables
    }
