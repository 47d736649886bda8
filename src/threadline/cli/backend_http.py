"""`Backend` over HTTP: a running Threadline server, through the official `openai` SDK.

OpenAI's endpoints go through the SDK (so the CLI is also a check that the SDK works against
the server); Threadline's own endpoints (list, close, export, import) through httpx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import openai

from threadline.cli.backend import BackendError, ConversationQuery, Event, Item, Progress

_CHUNK = 64 * 1024
OPEN_SERVER_KEY = "threadline-open"
"""Sent when no key is given: a server without API keys accepts any."""


def server_root(base_url: str) -> str:
    """`http://host:port` from what a user may type: with or without `/v1` or a slash."""
    url = base_url.strip().rstrip("/")
    return url.removesuffix("/v1")


class HttpBackend:
    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = 300.0) -> None:
        self._root = server_root(base_url)
        key = api_key or OPEN_SERVER_KEY
        self._sdk = openai.AsyncOpenAI(
            base_url=f"{self._root}/v1", api_key=key, max_retries=0, timeout=timeout
        )
        self._http = httpx.AsyncClient(
            base_url=self._root,
            headers={"Authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    @property
    def where(self) -> str:
        return self._root

    async def check(self) -> None:
        with self._errors():
            response = await self._http.get("/healthz", timeout=10.0)
        if response.status_code != 200:
            raise BackendError(
                f"{self._root} answered /healthz with HTTP {response.status_code}: "
                "is it a Threadline server?"
            )

    async def stream_turn(
        self, model: str, text: str, conversation_id: str
    ) -> AsyncIterator[Event]:
        with self._errors():
            # `store` said, not left to the server's default: a chat lives in its conversation.
            stream = await self._sdk.responses.create(
                model=model, input=text, conversation=conversation_id, stream=True, store=True
            )
            async with stream:
                async for event in stream:
                    yield event.to_dict()

    async def list_models(self) -> list[str]:
        with self._errors():
            return [model.id async for model in self._sdk.models.list()]

    async def create_conversation(self, metadata: dict[str, str]) -> dict[str, Any]:
        with self._errors():
            return (await self._sdk.conversations.create(metadata=metadata)).to_dict()

    async def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        with self._errors():
            return (await self._sdk.conversations.retrieve(conversation_id)).to_dict()

    async def list_conversations(self, query: ConversationQuery) -> dict[str, Any]:
        return await self._json("GET", "/v1/conversations", params=query.params())

    async def conversation_items(self, conversation_id: str) -> list[Item]:
        with self._errors():
            pages = self._sdk.conversations.items.list(conversation_id, order="asc", limit=100)
            return [item.to_dict() async for item in pages]

    async def export_conversation(self, conversation_id: str) -> dict[str, Any]:
        return await self._json("GET", f"/v1/conversations/{conversation_id}/export")

    async def import_conversation(
        self, document: bytes, progress: Progress | None = None
    ) -> dict[str, Any]:
        async def upload() -> AsyncIterator[bytes]:
            for start in range(0, len(document), _CHUNK):
                piece = document[start : start + _CHUNK]
                yield piece
                if progress is not None:
                    progress(len(piece))

        return await self._json(
            "POST",
            "/v1/conversations/import",
            content=upload(),
            headers={"Content-Type": "application/json"},
        )

    async def close_conversation(self, conversation_id: str) -> dict[str, Any]:
        return await self._json("POST", f"/v1/conversations/{conversation_id}/close")

    async def delete_conversation(self, conversation_id: str) -> dict[str, Any]:
        with self._errors():
            return (await self._sdk.conversations.delete(conversation_id)).to_dict()

    async def get_response(self, response_id: str) -> dict[str, Any]:
        with self._errors():
            return (await self._sdk.responses.retrieve(response_id)).to_dict()

    async def response_input_items(self, response_id: str) -> list[Item]:
        with self._errors():
            pages = self._sdk.responses.input_items.list(response_id, order="asc", limit=100)
            return [item.to_dict() async for item in pages]

    async def delete_response(self, response_id: str) -> dict[str, Any]:
        with self._errors():
            await self._sdk.responses.delete(response_id)  # the SDK returns nothing
        return {"id": response_id, "object": "response.deleted", "deleted": True}

    async def aclose(self) -> None:
        await self._sdk.close()
        await self._http.aclose()

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        with self._errors():
            response = await self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise _status_error(response.status_code, _body(response))
        body = _body(response)
        if not isinstance(body, dict):
            raise BackendError(f"{self._root}{path} did not answer with a JSON object")
        return body

    @contextmanager
    def _errors(self) -> Iterator[None]:
        unreachable = BackendError(
            f"cannot reach the Threadline server at {self._root}",
            hint="start it with `threadline serve`, or check --base-url / THREADLINE_URL",
        )
        try:
            yield
        except openai.APIStatusError as exc:
            raise _status_error(exc.status_code, exc.body) from exc
        except openai.APIConnectionError as exc:
            raise unreachable from exc
        except httpx.TransportError as exc:
            raise unreachable from exc


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _status_error(status: int, body: object) -> BackendError:
    """OpenAI's error envelope as a message (the SDK hands over the inner `error` object)."""
    error = body.get("error", body) if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    text = str(message) if message else f"the server answered HTTP {status}"
    if status == 401:
        return BackendError(text, hint="pass --api-key or set THREADLINE_API_KEY")
    return BackendError(text)
