"""The deepest JSON a request body may nest: what is accepted must also be serialisable.

orjson reads up to 1,024 levels but writes only 254, and what Threadline sends back wraps a
body's values a few levels deeper (a tool's `parameters` inside the response, the response
inside a stream event, an item inside an export). A body nested deeper than `MAX_JSON_DEPTH`
is refused when it is parsed, so no stored or streamed value can fail to serialise later.
"""

from __future__ import annotations

import json
from typing import Any

MAX_JSON_DEPTH = 200


class JsonTooDeep(json.JSONDecodeError):
    def __init__(self) -> None:
        super().__init__(f"nested deeper than {MAX_JSON_DEPTH} levels", "", 0)


def refuse_deep_nesting(body: bytes, value: Any) -> None:
    # Counting brackets runs at memchr speed; only a body with more opening brackets than
    # the limit (large or deep) is walked.
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise JsonTooDeep


def _deeper_than(value: Any, limit: int) -> bool:
    pending: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        container, depth = pending.pop()
        if depth > limit:
            return True
        children = container.values() if isinstance(container, dict) else container
        pending.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False
