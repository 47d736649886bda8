"""The SQL backend: SQLAlchemy Core tables, queries and Alembic migrations, one code path for
SQLite (the standard library's sqlite3, on threads of the store's own) and PostgreSQL
(asyncpg); engines.py and databases.py hold what differs between them."""

from threadline.storage.sql.store import SqlStore

__all__ = ["SqlStore"]
