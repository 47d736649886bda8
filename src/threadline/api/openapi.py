"""The OpenAPI document at /openapi.json: what the routes really answer.

The routes return prepared JSON, so FastAPI cannot see their shapes, and it advertises a 422
for every operation, which Threadline never sends (a bad request is a 400). The document is
built once, then corrected: each operation gets its success shape (the models below, which
describe the wire objects and are used for nothing else), the error statuses it can answer in
OpenAI's envelope, and the bearer-key security scheme.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict

from threadline.protocol.conversations import ConversationExport


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorObject(_Wire):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(_Wire):
    error: ErrorObject


class Response(_Wire):
    id: str
    object: Literal["response"]
    created_at: int
    status: Literal["completed", "failed", "in_progress", "incomplete", "cancelled", "queued"]
    model: str
    output: list[dict[str, Any]]
    error: ErrorObject | None = None
    incomplete_details: dict[str, Any] | None = None
    previous_response_id: str | None = None
    conversation: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    metadata: dict[str, str] = {}


class ResponseDeleted(_Wire):
    id: str
    object: Literal["response.deleted"]
    deleted: bool


class Conversation(_Wire):
    id: str
    object: Literal["conversation"]
    created_at: int
    metadata: dict[str, str]
    status: Literal["active", "closed", "expired"]
    last_active_at: int


class ConversationDeleted(_Wire):
    id: str
    object: Literal["conversation.deleted"]
    deleted: bool


class ConversationList(_Wire):
    object: Literal["list"]
    data: list[Conversation]
    first_id: str | None
    last_id: str | None
    has_more: bool


class ItemList(_Wire):
    """A page of items (messages, function calls and outputs, ...), each as OpenAI shapes it."""

    object: Literal["list"]
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool


class Item(_Wire):
    id: str
    type: str


class Model(_Wire):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(_Wire):
    object: Literal["list"]
    data: list[Model]


class File(_Wire):
    id: str
    object: Literal["file"]
    bytes: int
    created_at: int
    filename: str
    purpose: str


class FileList(_Wire):
    object: Literal["list"]
    data: list[File]


class FileDeleted(_Wire):
    id: str
    object: Literal["file"]
    deleted: bool


class ChatCompletion(_Wire):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None


class ChatCompletionList(_Wire):
    object: Literal["list"]
    data: list[ChatCompletion]
    first_id: str | None
    last_id: str | None
    has_more: bool


class ChatCompletionDeleted(_Wire):
    id: str
    object: Literal["chat.completion.deleted"]
    deleted: bool


class ChatMessageList(_Wire):
    """The messages a stored completion was asked with, each with its id."""

    object: Literal["list"]
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool


_SUCCESS: dict[tuple[str, str], type[BaseModel]] = {
    ("post", "/v1/responses"): Response,
    ("get", "/v1/responses/{response_id}"): Response,
    ("delete", "/v1/responses/{response_id}"): ResponseDeleted,
    ("post", "/v1/responses/{response_id}/cancel"): Response,
    ("get", "/v1/responses/{response_id}/input_items"): ItemList,
    ("post", "/v1/conversations"): Conversation,
    ("get", "/v1/conversations"): ConversationList,
    ("post", "/v1/conversations/import"): Conversation,
    ("get", "/v1/conversations/{conversation_id}"): Conversation,
    ("post", "/v1/conversations/{conversation_id}"): Conversation,
    ("delete", "/v1/conversations/{conversation_id}"): ConversationDeleted,
    ("post", "/v1/conversations/{conversation_id}/close"): Conversation,
    ("get", "/v1/conversations/{conversation_id}/export"): ConversationExport,
    ("post", "/v1/conversations/{conversation_id}/items"): ItemList,
    ("get", "/v1/conversations/{conversation_id}/items"): ItemList,
    ("get", "/v1/conversations/{conversation_id}/items/{item_id}"): Item,
    ("delete", "/v1/conversations/{conversation_id}/items/{item_id}"): Conversation,
    ("post", "/v1/chat/completions"): ChatCompletion,
    ("get", "/v1/chat/completions"): ChatCompletionList,
    ("get", "/v1/chat/completions/{completion_id}"): ChatCompletion,
    ("post", "/v1/chat/completions/{completion_id}"): ChatCompletion,
    ("delete", "/v1/chat/completions/{completion_id}"): ChatCompletionDeleted,
    ("get", "/v1/chat/completions/{completion_id}/messages"): ChatMessageList,
    ("get", "/v1/chat/completions/{completion_id}/export"): ConversationExport,
    ("get", "/v1/models"): ModelList,
    ("post", "/v1/files"): File,
    ("get", "/v1/files"): FileList,
    ("get", "/v1/files/{file_id}"): File,
    ("delete", "/v1/files/{file_id}"): FileDeleted,
}
_ERRORS = {
    "400": "Invalid request: the message names the parameter.",
    "401": "Missing or unknown API key.",
    "404": "No such object (or model) for this API key.",
    "409": "The conversation is closed or expired, or the object changed meanwhile.",
    "413": "Request body over THREADLINE_MAX_REQUEST_BYTES.",
    "429": "The model provider is rate limiting; retry after Retry-After seconds.",
    "502": "The model provider failed.",
    "504": "The model provider timed out.",
}
_MODEL_CALLS = {("post", "/v1/responses"), ("post", "/v1/chat/completions")}
_CONFLICTS = {
    ("post", "/v1/responses"),
    ("post", "/v1/conversations/{conversation_id}/items"),
    ("post", "/v1/conversations/{conversation_id}/close"),
    ("post", "/v1/conversations/import"),
}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            _correct(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _correct(document: dict[str, Any]) -> None:
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    models: list[type[BaseModel]] = [ErrorResponse, *_SUCCESS.values()]
    for model in models:
        if model.__name__ not in schemas:  # a request body's model already there (an export)
            _add_schema(schemas, model)
    document["components"]["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key made with `threadline keys create` (none needed while "
            "the server has no keys).",
        }
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            _describe(operation, method, path)


def _describe(operation: dict[str, Any], method: str, path: str) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    success = _SUCCESS.get((method, path))
    if success is not None:
        content: dict[str, Any] = {"application/json": {"schema": _ref(success)}}
        if (method, path) in _MODEL_CALLS:
            content["text/event-stream"] = {
                "schema": {"type": "string", "description": "With 'stream': true: the events."}
            }
        responses["200"] = {"description": "Success", "content": content}
    elif path.endswith("/content"):
        responses["200"] = {
            "description": "The file's bytes, with the media type it was uploaded with.",
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        }
    operation["security"] = [{"bearer": []}]
    for status in _statuses(method, path):
        responses[status] = {
            "description": _ERRORS[status],
            "content": {"application/json": {"schema": _ref(ErrorResponse)}},
        }


def _statuses(method: str, path: str) -> list[str]:
    statuses = ["400", "401"]
    if "{" in path or (method, path) in _MODEL_CALLS:
        statuses.append("404")
    if (method, path) in _CONFLICTS:
        statuses.append("409")
    if method == "post":
        statuses.append("413")
    if (method, path) in _MODEL_CALLS:
        statuses += ["429", "502", "504"]
    return statuses


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _add_schema(schemas: dict[str, Any], model: type[BaseModel]) -> None:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
