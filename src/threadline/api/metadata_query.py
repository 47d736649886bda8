"""The `metadata[key]=value` filters of a list endpoint's query string (repeatable; every pair
must match). Declared as the extra keys of the query's model; any other extra key is refused."""

from __future__ import annotations

import re

from fastapi import Request
from pydantic import BaseModel

from threadline.errors import InvalidRequest

_METADATA_KEY = re.compile(r"^metadata\[(.+)\]$")
MAX_FILTERS = 16
"""As many as an object's metadata can hold: more could never all match, and each costs the
query a clause."""


def metadata_filter(request: Request, query: BaseModel) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for key in query.model_extra or {}:
        match = _METADATA_KEY.match(key)
        if match is None:
            raise InvalidRequest(
                f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter"
            )
        metadata[match.group(1)] = request.query_params[key]
    if len(metadata) > MAX_FILTERS:
        raise InvalidRequest(
            f"At most {MAX_FILTERS} 'metadata[KEY]' filters can be given (metadata holds at most "
            f"{MAX_FILTERS} pairs); got {len(metadata)}.",
            param="metadata",
        )
    return metadata
