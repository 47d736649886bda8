"""Build the store a user's `database_url` names.

Users write the URLs they know (`sqlite:///threadline.db`, a plain path, `memory://`), not
SQLAlchemy driver URLs; this is the one place that translates. Relative SQLite paths are made
absolute here, against the working directory at start-up, so nothing later depends on it.
The caller runs `await store.migrate()`.
"""

from __future__ import annotations

from pathlib import Path

from threadline.storage.base import Store
from threadline.storage.memory import MemoryStore
from threadline.storage.sql import SqlStore

_SQLITE_PREFIXES = ("sqlite:///", "sqlite+aiosqlite:///")
_NOT_YET = {
    "postgresql": "PostgreSQL",
    "postgres": "PostgreSQL",
    "postgresql+asyncpg": "PostgreSQL",
    "mongodb": "MongoDB",
    "mongodb+srv": "MongoDB",
}


def open_store(database_url: str) -> Store:
    """A store for `database_url`: `sqlite:///relative.db`, `sqlite:////absolute.db`, a file
    path (SQLite), or `memory://`. Raises ValueError for anything else."""
    if database_url == "memory://":
        return MemoryStore()
    if "://" not in database_url:
        return _sqlite_store(database_url)
    for prefix in _SQLITE_PREFIXES:
        if database_url.startswith(prefix):
            return _sqlite_store(database_url.removeprefix(prefix))
    # Only the scheme goes into messages: the rest of a URL may hold a password.
    scheme = database_url.split("://", 1)[0].lower()
    if scheme in _NOT_YET:
        raise ValueError(f"{_NOT_YET[scheme]} databases ({scheme}://) are not supported yet")
    raise ValueError(
        f"Unsupported database URL scheme '{scheme}://'; use sqlite:///path/to/file.db, "
        "a file path, or memory://"
    )


def _sqlite_store(path: str) -> SqlStore:
    if path in ("", ":memory:") or "?" in path:
        raise ValueError(
            f"Expected an SQLite file path, got {path!r}; use memory:// for an in-memory store"
        )
    file = Path(path).expanduser().resolve()
    file.parent.mkdir(parents=True, exist_ok=True)
    return SqlStore(f"sqlite+aiosqlite:///{file}")
