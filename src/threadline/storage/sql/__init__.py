"""The SQL backend: SQLAlchemy Core tables, queries and Alembic migrations, one code path for
SQLite (aiosqlite) and PostgreSQL (asyncpg); engines.py holds what differs between them."""

from threadline.storage.sql.store import SqlStore

__all__ = ["SqlStore"]
