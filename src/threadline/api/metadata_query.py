"""The `metadata[key]=value` filters of a list endpoint's query string (repeatable; every pair
must match). Declared as the extra keys of the query's model; any other extra key is refused."""

from __future__ import annotations

import re

from fastapi import Request
from pydantic import BaseModel

from threadline.errors import InvalidRequest

_METADATA_KEY = re.compile(r"^metadata\[(.+)\]$")


def metadata_filter(request: Request, query: BaseModel) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for key in query.model_extra or {}:
        match = _METADATA_KEY.match(key)
        if match is None:
            raise InvalidRequest(
                f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter"
            )
        metadata[match.group(1)] = request.query_params[key]
    return metadata
