"""The SQL backend: SQLAlchemy Core tables, queries and Alembic migrations (SQLite today;
PostgreSQL uses the same tables)."""

from threadline.storage.sql.store import SqlStore

__all__ = ["SqlStore"]
