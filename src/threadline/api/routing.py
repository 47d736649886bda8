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

import inspect
import json
import typing
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends
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


class DirectRoute(JsonRoute):
    """A route run without FastAPI's per-request dependency solving, a measured share of the
    CPU of the hottest routes (docs/performance.md). Its endpoint takes one JSON body model and
    dependencies of one `request` argument, nothing else; they are resolved as FastAPI does
    and in its order (the body parsed; the dependencies, so a bad key is a 401 first; the body
    validated), and every failure is the error FastAPI would raise. FastAPI still reads the
    endpoint's signature for the OpenAPI document."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint
        model, resolvers = _direct_parameters(endpoint)

        async def run_directly(request: Request) -> Response:
            value = await json_body(request)
            resolved = {name: await resolve(request) for name, resolve in resolvers.items()}
            resolved[model[0]] = body_model(model[1], value)
            response: Response = await endpoint(**resolved)
            return response

        return run_directly


E = TypeVar("E", bound=Callable[..., Any])


def post_directly(router: APIRouter, path: str) -> Callable[[E], E]:
    """`@router.post(path)`, run as a DirectRoute."""

    def register(endpoint: E) -> E:
        router.add_api_route(path, endpoint, methods=["POST"], route_class_override=DirectRoute)
        return endpoint

    return register


def _direct_parameters(
    endpoint: Callable[..., Any],
) -> tuple[tuple[str, type[BaseModel]], dict[str, Callable[[Request], Awaitable[Any]]]]:
    """The endpoint's body parameter and its dependencies by name, in signature order; an
    endpoint with any other kind of parameter is refused when the app is built."""
    hints = typing.get_type_hints(endpoint, include_extras=True)
    body: tuple[str, type[BaseModel]] | None = None
    resolvers: dict[str, Callable[[Request], Awaitable[Any]]] = {}
    for name in inspect.signature(endpoint).parameters:
        hint = hints[name]
        marks = getattr(hint, "__metadata__", ())
        depends = next((m for m in marks if isinstance(m, Depends)), None)
        if depends is not None and depends.dependency is not None:
            resolvers[name] = depends.dependency
        elif body is None and inspect.isclass(hint) and issubclass(hint, BaseModel):
            body = (name, hint)
        else:
            raise TypeError(f"{endpoint.__name__}: a direct route cannot resolve '{name}'")
    if body is None:
        raise TypeError(f"{endpoint.__name__}: a direct route needs a JSON body model")
    return body, resolvers


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
