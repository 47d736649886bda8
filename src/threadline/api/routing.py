"""The route class every JSON router uses: one reading of the query string and the body.

The query: an array parameter arrives as `include[]=a&include[]=b` (the form the official
SDKs send) or as `include=a&include=b`; both are read as `include`, so every route declares
its arrays once, under their plain name.

The body is parsed with orjson, whatever the Content-Type says (as OpenAI does: `curl -d`
sends `application/x-www-form-urlencoded`). orjson is faster than the standard library and
stricter in the ways a server wants: it refuses integers beyond 64 bits, NaN/Infinity and
invalid UTF-8, each as a JSON decode error, so they become a 400 here instead of failing later
when the value is stored or sent back. Nesting is refused past `MAX_JSON_DEPTH` levels.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from threadline.api.json_depth import refuse_deep_nesting


class _OrjsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            self._json = orjson.loads(body)
            refuse_deep_nesting(body, self._json)
        return self._json


class JsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parse_with_orjson(request: Request) -> Response:
            scope = dict(request.scope)
            scope["query_string"] = _plain_array_names(scope.get("query_string", b""))
            # FastAPI parses only a body declared as JSON; any other (form-encoded,
            # text/plain, none) it would validate as raw bytes.
            scope["headers"] = [
                *((k, v) for k, v in scope["headers"] if k != b"content-type"),
                (b"content-type", b"application/json"),
            ]
            return await handler(_OrjsonRequest(scope, request.receive))

        return parse_with_orjson


M = TypeVar("M", bound=BaseModel)


async def json_body(request: Request) -> Any:
    """For a route that reads its own body (a hot path, without FastAPI's dependency solving):
    the body parsed as JsonRoute parses it, failing with the error FastAPI would raise."""
    body = await request.body()
    if not body:
        return None
    try:
        value = orjson.loads(body)
        refuse_deep_nesting(body, value)
    except json.JSONDecodeError as exc:  # orjson's error and JsonTooDeep are both one
        error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error"}
        raise RequestValidationError([{**error, "input": {}}], body=exc.doc) from exc
    return value


def body_model(model: type[M], value: Any) -> M:
    """`value` (from `json_body`) as the route's body model, failing as FastAPI would."""
    if value is None:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([missing])
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors, body=value) from None


def _plain_array_names(query: bytes) -> bytes:
    if b"[]" not in query and b"%5B%5D" not in query.upper():
        return query
    # latin-1 both ways keeps every byte as it came; Starlette decodes the escapes later.
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    plain = [(key.removesuffix("[]"), value) for key, value in pairs]
    return urlencode(plain, encoding="latin-1").encode("latin-1")
