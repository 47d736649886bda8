"""Tracebacks in the log name the exception's type and where it was raised, never its message.

An exception's message can quote what it was handed: a prompt, a tool's output, a header, a
connection string. Logs must hold no content and no secrets, yet an unexpected error still
needs its traceback to be found. `ContentFreeTracebacks` renders each logged exception (and
the ones chained to it) as frames plus `module.Type: (message withheld)`, before any formatter
sees the record; a database's error adds its code, e.g. `(message withheld) [SQLITE_FULL]`.
"""

from __future__ import annotations

import logging
import traceback
from types import TracebackType

_WITHHELD = "(message withheld)"


_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def content_free_traceback(
    exc_type: type[BaseException], exc: BaseException | None, tb: TracebackType | None
) -> str:
    if exc is None:
        return f"{_name(exc_type)}: {_WITHHELD}"
    chain: list[tuple[BaseException, str]] = []
    """Newest first: each exception with the line that leads to it from its cause."""
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.__cause__ is not None:
            chain.append((current, _CAUSE))
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            chain.append((current, _CONTEXT))
            current = current.__context__
        else:
            chain.append((current, ""))
            current = None
    parts: list[str] = []
    for position, (error, _) in enumerate(reversed(chain)):
        if position:
            parts.append(chain[len(chain) - 1 - position][1])
        frames = tb if error is exc else error.__traceback__
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(frames))
        parts.append(f"{_name(type(error))}: {_WITHHELD}{_code(error)}\n")
    return "".join(parts).rstrip("\n")


def _code(error: BaseException) -> str:
    """The database's name for what went wrong, which quotes nothing it was handed: SQLite's
    result code (`SQLITE_CANTOPEN`, `SQLITE_FULL`…), PostgreSQL's SQLSTATE (`40P01`…)."""
    for attribute in ("sqlite_errorname", "sqlstate", "pgcode"):
        code = getattr(error, attribute, None)
        if isinstance(code, str) and code.isascii() and code.replace("_", "").isalnum():
            return f" [{code}]"
    return ""


def _name(kind: type[BaseException]) -> str:
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


class ContentFreeTracebacks(logging.Filter):
    """Pre-renders `exc_text` (which formatters print as they find it) without messages."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, exc, tb = record.exc_info
            record.exc_text = content_free_traceback(exc_type, exc, tb)
        return True
