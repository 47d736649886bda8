"""An httpx transport that checks every Responses body and stream event against both specs.

The `http` and `client` fixtures (and the tools suite's) send through it, so every test that
creates or reads a response also checks, as a side effect, that what the server sent is a valid
`Response` / `ResponseResource` and that each event is a valid event of OpenAI's spec and of Open
Responses'. A body that is not valid fails the test with the schema's complaint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from tests.spec import specs_available, validate_component, validate_event, validate_response


class SpecCheckingTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if not specs_available() or not request.url.path.startswith(_CHECKED_PATHS):
            return response
        content_type = response.headers.get("content-type", "")
        if content_type.startswith("text/event-stream"):
            stream = _CheckedEvents(response.stream)
        elif content_type.startswith("application/json") and response.status_code == 200:
            body = b"".join(_chunks(response.stream))
            _check_body(json.loads(body))
            stream = httpx.ByteStream(body)
        else:
            return response
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=stream,
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        self._inner.close()


def _chunks(stream: Any) -> Iterator[bytes]:
    try:
        yield from stream
    finally:
        stream.close()


_CHECKED_PATHS = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/vector_stores",
    "/v1/organization/",
)
_CHAT_SCHEMAS = {
    "chat.completion": "CreateChatCompletionResponse",
    "chat.completion.chunk": "CreateChatCompletionStreamResponse",
}
_VECTOR_STORE_SCHEMAS = {
    "vector_store": "VectorStoreObject",
    "vector_store.file": "VectorStoreFileObject",
    "vector_store.files_batch": "VectorStoreFileBatchObject",
    "vector_store.search_results.page": "VectorStoreSearchResultsPage",
    "vector_store.file_content.page": "VectorStoreFileContentResponse",
    "vector_store.deleted": "DeleteVectorStoreResponse",
    "vector_store.file.deleted": "DeleteVectorStoreFileResponse",
}


def _check_body(body: Any) -> None:
    if not isinstance(body, dict):
        return
    if body.get("object") == "response":
        validate_response(body)
    elif body.get("object") == "chat.completion.chunk":
        # OpenAI's document types a chunk's finish_reason as a string; its API and SDK send
        # null until the last chunk, as Threadline does.
        choices = [
            {**c, "finish_reason": c.get("finish_reason") or "stop"} for c in body["choices"]
        ]
        validate_component({**body, "choices": choices}, _CHAT_SCHEMAS[body["object"]])
    elif body.get("object") in _CHAT_SCHEMAS:
        validate_component(body, _CHAT_SCHEMAS[body["object"]])
    elif body.get("object") in _VECTOR_STORE_SCHEMAS:
        validate_component(body, _VECTOR_STORE_SCHEMAS[body["object"]])
    elif body.get("object") == "page":
        validate_component(body, "UsageResponse")  # a usage or cost report
    elif body.get("object") == "list":
        for entry in body.get("data") or ():
            _check_body(entry)


class _CheckedEvents(httpx.SyncByteStream):
    """Passes the bytes on unchanged, validating each `data:` event once it is complete."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._pending = b""

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._pending += chunk
            *complete, self._pending = self._pending.replace(b"\r\n", b"\n").split(b"\n\n")
            for frame in complete:
                _check_frame(frame)
            yield chunk
        if self._pending.strip():
            _check_frame(self._pending)

    def close(self) -> None:
        self._inner.close()


def _check_frame(frame: bytes) -> None:
    data = b"\n".join(
        line[5:].lstrip(b" ") for line in frame.split(b"\n") if line.startswith(b"data:")
    )
    if not data or data == b"[DONE]":
        return
    event = json.loads(data)
    if event.get("object") == "chat.completion.chunk":
        _check_body(event)
    elif "error" not in event or "type" in event:
        validate_event(event)


def checked_http_client(**kwargs: Any) -> httpx.Client:
    """An `httpx.Client` whose Responses and Chat Completions traffic is checked against the
    specs."""
    return httpx.Client(transport=SpecCheckingTransport(), **kwargs)
