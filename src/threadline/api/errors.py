"""One place renders every error as OpenAI's envelope: {"error": {message, type, param, code}}."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from threadline.api.json_depth import MAX_JSON_DEPTH, JsonTooDeep
from threadline.api.validation_errors import invalid_request_from
from threadline.errors import (
    InvalidRequest,
    MethodNotAllowed,
    ThreadlineError,
    UnknownUrl,
)

log = logging.getLogger(__name__)


def error_response(exc: ThreadlineError, headers: Mapping[str, str] | None = None) -> Response:
    if exc.status_code == 429:
        headers = {"Retry-After": "1", **(headers or {})}
    if exc.headers:
        headers = {**(headers or {}), **exc.headers}
    return Response(
        orjson.dumps({"error": exc.to_error_object()}),
        status_code=exc.status_code,
        media_type="application/json",
        headers=headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ThreadlineError)
    async def _threadline(_: Request, exc: ThreadlineError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        if isinstance(exc.__cause__, JsonTooDeep):
            return error_response(
                InvalidRequest(
                    f"The JSON body of your request nests deeper than {MAX_JSON_DEPTH} levels, "
                    "the limit. Send a flatter structure.",
                    code="invalid_json",
                )
            )
        return error_response(invalid_request_from(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        # Routing raises these: 404 when no route has the path, 405 when none of the
        # path's routes takes the method (FastAPI also raises a 400 for an unreadable body).
        method, path = request.method, request.url.path
        if exc.status_code == 404:
            return error_response(UnknownUrl(method, path))
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            refusal = MethodNotAllowed(method, path, allowed.replace(", ", " or "))
            return error_response(refusal, headers={"Allow": allowed})
        error = ThreadlineError(str(exc.detail))
        error.status_code = exc.status_code
        error.error_type = "invalid_request_error"
        return error_response(error, headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            ThreadlineError("The server had an error while processing your request.")
        )
