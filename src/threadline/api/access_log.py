"""uvicorn's access log, without query strings.

A query string can hold what must never reach a log: an API key a client put in the URL,
metadata values a list is filtered on. The path alone names the route and the ids it acts on.
"""

from __future__ import annotations

import logging

ACCESS_LOGGER = "uvicorn.access"


class WithoutQueryString(logging.Filter):
    """Cuts the query string off the path of uvicorn's access log records, whose arguments
    are (client address, method, path with query string, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, query_mark, _ = args[2].partition("?")
            if query_mark:
                record.args = (*args[:2], path, *args[3:])
        return True


def drop_query_strings_from_access_log() -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, WithoutQueryString) for f in logger.filters):
        logger.addFilter(WithoutQueryString())
