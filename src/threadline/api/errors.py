"""One place renders every error as OpenAI's envelope: {"error": {message, type, param, code}}."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from threadline.api.validation_errors import invalid_request_from
from threadline.errors import ThreadlineError

log = logging.getLogger(__name__)


def error_response(exc: ThreadlineError) -> Response:
    headers = {"Retry-After": "1"} if exc.status_code == 429 else None
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
        return error_response(invalid_request_from(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        error = ThreadlineError(str(exc.detail), code=None)
        error.status_code = exc.status_code
        error.error_type = "invalid_request_error"
        if exc.status_code == 404:
            error.message = "Not found: no such endpoint. See /docs for the API."
        elif exc.status_code == 405:
            error.message = "Method not allowed on this endpoint."
        return error_response(error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            ThreadlineError("The server had an error while processing your request.")
        )
