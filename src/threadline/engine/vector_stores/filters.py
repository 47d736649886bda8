"""Attribute filters (`filters` of a search and of the file_search tool): does a file's
`attributes` pass?

Comparisons follow the types: `eq`/`ne` compare equal types (a boolean is never a number);
`gt`/`gte`/`lt`/`lte` compare numbers with numbers and strings with strings (so ISO dates
order); `in`/`nin` look the attribute up in a list. A file without the key fails every
comparison, `ne` and `nin` included, as a missing column does in SQL.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from threadline.errors import InvalidRequest
from threadline.protocol.vector_stores import ComparisonFilter, CompoundFilter, Filter

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def check_filter(flt: Filter, param: str = "filters") -> None:
    """A 400 for a comparison whose value cannot be compared as its type says."""
    if isinstance(flt, CompoundFilter):
        for index, inner in enumerate(flt.filters):
            check_filter(inner, f"{param}.filters[{index}]")
        return
    listed = isinstance(flt.value, list)
    if flt.type in ("in", "nin") and not listed:
        raise InvalidRequest(
            f"The '{flt.type}' filter compares with a list of values.", param=f"{param}.value"
        )
    if flt.type not in ("in", "nin") and listed:
        raise InvalidRequest(
            f"The '{flt.type}' filter compares with one value, not a list.",
            param=f"{param}.value",
        )


def passes(flt: Filter | None, attributes: dict[str, Any] | None) -> bool:
    if flt is None:
        return True
    if isinstance(flt, CompoundFilter):
        verdicts = (passes(inner, attributes) for inner in flt.filters)
        return all(verdicts) if flt.type == "and" else any(verdicts)
    return _compare(flt, attributes or {})


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "str" if isinstance(value, str) else "other"


def _compare(flt: ComparisonFilter, attributes: dict[str, Any]) -> bool:
    if flt.key not in attributes:
        return False
    have, want = attributes[flt.key], flt.value
    if flt.type in ("in", "nin"):
        found = any(_kind(v) == _kind(have) and v == have for v in want)  # type: ignore[union-attr]
        return found if flt.type == "in" else not found
    if _kind(have) != _kind(want):
        return False
    if flt.type == "eq":
        return bool(have == want)
    if flt.type == "ne":
        return bool(have != want)
    if _kind(have) == "bool":
        return False
    return _ORDER[flt.type](have, want)
