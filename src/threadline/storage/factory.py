"""Build the store a user's `database_url` names.

Users write the URLs they know (`sqlite:///threadline.db`, a plain path,
`postgresql://user:pass@host/db`, `memory://`), not SQLAlchemy driver URLs; this is the one
place that translates. Relative SQLite paths are made absolute here, against the working
directory at start-up, so nothing later depends on it. PostgreSQL goes through asyncpg, which
spells libpq's `sslmode` as `ssl`. The caller runs `await store.migrate()`.

Only the scheme of a URL ever goes into a message: the rest may hold a password.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from threadline.storage.base import Store
from threadline.storage.encryption import PLAIN, ContentCodec
from threadline.storage.memory import MemoryStore

_SQLITE_PREFIXES = ("sqlite:///", "sqlite+aiosqlite:///")
_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")
_MONGO_SCHEMES = ("mongodb", "mongodb+srv")


def open_store(
    database_url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 0,
    context_cache_bytes: int | None = None,
    codec: ContentCodec = PLAIN,
) -> Store:
    """A store for `database_url`: `sqlite:///relative.db`, `sqlite:////absolute.db`, a file
    path (SQLite), `postgresql://user:pass@host:port/db`, `mongodb://host/db` or
    `mongodb+srv://…` (a replica set; docs/storage-mongodb.md), or `memory://`. The pool sizes
    are per process and apply to PostgreSQL (MongoDB takes `maxPoolSize` in its URL);
    `context_cache_bytes` (None: the store's default) applies to both SQL databases; `codec`
    seals content when it holds encryption keys (the memory store keeps nothing at rest).
    Raises ValueError for anything else."""
    if database_url == "memory://":
        return MemoryStore()
    sql_url = sqlalchemy_url(database_url)
    if sql_url is not None:
        from threadline.storage.sql import SqlStore  # noqa: PLC0415  (see _mongo_store)

        if context_cache_bytes is None:
            return SqlStore(sql_url, pool_size=pool_size, max_overflow=max_overflow, codec=codec)
        return SqlStore(
            sql_url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            context_cache_bytes=context_cache_bytes,
            codec=codec,
        )
    scheme = _scheme(database_url)
    if scheme in _MONGO_SCHEMES:
        return _mongo_store(database_url, scheme, codec)
    raise ValueError(
        f"Unsupported database URL scheme '{scheme}://'; use sqlite:///path/to/file.db, "
        "a file path, postgresql://user:password@host:port/database, "
        "mongodb://host:port/database, or memory://"
    )


def sqlalchemy_url(database_url: str) -> str | None:
    """The SQLAlchemy async URL for a SQL `database_url` (creating a SQLite file's directory),
    or None if the URL names no SQL database."""
    if "://" not in database_url:
        return _sqlite_url(database_url)
    for prefix in _SQLITE_PREFIXES:
        if database_url.startswith(prefix):
            return _sqlite_url(database_url.removeprefix(prefix))
    if _scheme(database_url) in _POSTGRES_SCHEMES:
        return _postgres_url(database_url)
    return None


def redacted(database_url: str) -> str:
    """The URL with its password masked, fit for logs and terminal output."""
    if "://" not in database_url or database_url == "memory://":
        return database_url
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # ValueError: a MongoDB URL with several hosts
        return f"{_scheme(database_url)}://…"


def _scheme(database_url: str) -> str:
    return database_url.split("://", 1)[0].lower()


def sqlite_path(database_url: str) -> Path | None:
    """The absolute file a SQLite `database_url` names (nothing is created), else None."""
    if "://" not in database_url:
        path = database_url
    else:
        prefix = next((p for p in _SQLITE_PREFIXES if database_url.startswith(p)), None)
        if prefix is None:
            return None
        path = database_url.removeprefix(prefix)
    if path in ("", ":memory:") or "?" in path:
        return None
    return Path(path).expanduser().resolve()


def sqlite_write_problem(file: Path) -> str | None:
    """Why SQLite could not create or write `file`, in words; None when nothing is in the way.

    Checks the filesystem's read-only flag, then creates (and at once removes) a file in the
    nearest directory that exists: permission bits alone do not tell, as root passes them all.
    """
    directory = file.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    try:
        if os.statvfs(file if file.exists() else directory).f_flag & os.ST_RDONLY:
            return f"the filesystem holding {directory} is read-only"
    except OSError:
        pass
    if file.exists() and not os.access(file, os.W_OK):
        return f"{file} is not writable (permission denied)"
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        if exc.errno == errno.EROFS:
            return f"the filesystem holding {directory} is read-only"
        reason = (exc.strerror or str(exc)).lower()
        return f"the directory {directory} is not writable ({reason})"
    return None


def _sqlite_url(path: str) -> str:
    if path in ("", ":memory:") or "?" in path:
        raise ValueError(
            f"Expected an SQLite file path, got {path!r}; use memory:// for an in-memory store"
        )
    file = Path(path).expanduser().resolve()
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = sqlite_write_problem(file) or (exc.strerror or str(exc)).lower()
        raise ValueError(f"cannot create the directory of {file}: {problem}") from exc
    return f"sqlite+aiosqlite:///{file}"


def _postgres_url(database_url: str) -> str:
    try:
        url = make_url(database_url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise ValueError("The PostgreSQL URL could not be parsed") from exc
    if not url.database:
        raise ValueError("A PostgreSQL URL must name a database: postgresql://host:port/db")
    query = dict(url.query)
    if "sslmode" in query:
        query["ssl"] = query.pop("sslmode")
    url = url.set(drivername="postgresql+asyncpg", query=query)
    return url.render_as_string(hide_password=False)


def _mongo_store(database_url: str, scheme: str, codec: ContentCodec) -> Store:
    """The database is the one the URL's path names, else `threadline`. The client connects
    lazily: a URL that parses is accepted here, and `migrate()` meets the server.

    Backends are imported when chosen: a SQLite user never loads pymongo, and every
    `threadline` command starts faster."""
    from pymongo.errors import PyMongoError  # noqa: PLC0415

    from threadline.storage.mongo import MongoStore  # noqa: PLC0415

    try:
        return MongoStore(database_url, codec=codec)
    except (PyMongoError, ValueError) as exc:
        # pymongo's messages name the fault, not the URL, so they hold no password.
        raise ValueError(f"The MongoDB URL ({scheme}://) could not be used: {exc}") from exc
