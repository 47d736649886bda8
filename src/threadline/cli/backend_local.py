"""`Backend` in this process: the engine's use cases on the configured database and providers.

The same services the HTTP API calls (`ResponseService.prepare/stream`, `ConversationService`,
`ConversationTransfer`), built from `Settings` by `wiring.build_services`, acting as one tenant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from threadline.cli.backend import BackendError, ConversationQuery, Event, Item, Progress
from threadline.cli.common import database_failure
from threadline.errors import ThreadlineError
from threadline.protocol.conversations import (
    ChatMessage,
    ConversationCreateParams,
    ConversationExport,
    ConversationsListQuery,
    ItemsListQuery,
)
from threadline.protocol.responses import ListQuery, ResponseCreateParams
from threadline.settings import Settings
from threadline.storage.factory import redacted
from threadline.wiring import Services, build_services

_PAGE = 100
_CHAT_MESSAGES = TypeAdapter(list[ChatMessage])


class LocalBackend:
    def __init__(self, services: Services, tenant: str) -> None:
        self._services = services
        self._tenant = tenant

    @classmethod
    async def open(cls, settings: Settings, tenant: str) -> LocalBackend:
        try:
            services = await build_services(settings)
        except Exception as exc:  # whatever the driver raises, the operator must fix the setup
            raise BackendError(database_failure(settings.database_url, exc)) from exc
        return cls(services, tenant)

    @property
    def where(self) -> str:
        url = redacted(self._services.settings.database_url)
        return f"{url} (tenant '{self._tenant}')"

    async def check(self) -> None:
        try:
            await self._services.store.ping()
        except Exception as exc:
            raise BackendError(f"the database cannot be reached: {exc}") from exc

    async def stream_turn(
        self, model: str, text: str, conversation_id: str
    ) -> AsyncIterator[Event]:
        responses = self._services.responses
        # stream=True: the provider is asked for a stream, so tokens arrive as they come;
        # `store` said, not left to the server's default: a chat lives in its conversation.
        params = ResponseCreateParams(
            model=model, input=text, conversation=conversation_id, stream=True, store=True
        )
        with _engine_errors():
            turn = await responses.prepare(self._tenant, params)
        async for event in responses.run(turn).events:
            yield event

    async def create_conversation(self, metadata: dict[str, str]) -> dict[str, Any]:
        with _engine_errors():
            params = ConversationCreateParams(metadata=metadata)
            return await self._services.conversations.create(self._tenant, params)

    async def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        with _engine_errors():
            return await self._services.conversations.retrieve(self._tenant, conversation_id)

    async def list_conversations(self, query: ConversationQuery) -> dict[str, Any]:
        with _engine_errors():
            parsed = ConversationsListQuery(
                after=query.after,
                limit=query.limit,
                status=query.status,
                created_after=query.created_after,
                created_before=query.created_before,
                active_after=query.active_after,
                active_before=query.active_before,
            )
            return await self._services.conversations.list(self._tenant, parsed, query.metadata)

    async def conversation_items(self, conversation_id: str) -> list[Item]:
        items: list[Item] = []
        after: str | None = None
        with _engine_errors():
            while True:
                query = ItemsListQuery(after=after, limit=_PAGE, order="asc")
                page = await self._services.conversations.list_items(
                    self._tenant, conversation_id, query
                )
                items.extend(page["data"])
                if not page["has_more"]:
                    return items
                after = page["last_id"]

    async def export_conversation(self, conversation_id: str) -> dict[str, Any]:
        with _engine_errors():
            return await self._services.transfer.export(self._tenant, conversation_id)

    async def import_conversation(
        self, document: bytes, progress: Progress | None = None
    ) -> dict[str, Any]:
        try:
            data = orjson.loads(document)
        except orjson.JSONDecodeError as exc:
            raise BackendError(f"the file is not JSON: {exc}") from exc
        if progress is not None:
            progress(len(document))
        transfer = self._services.transfer
        with _engine_errors():
            if isinstance(data, list):
                return await transfer.import_chat(
                    self._tenant, _CHAT_MESSAGES.validate_python(data)
                )
            return await transfer.import_export(
                self._tenant, ConversationExport.model_validate(data)
            )

    async def close_conversation(self, conversation_id: str) -> dict[str, Any]:
        with _engine_errors():
            return await self._services.conversations.close(self._tenant, conversation_id)

    async def delete_conversation(self, conversation_id: str) -> dict[str, Any]:
        with _engine_errors():
            return await self._services.conversations.delete(self._tenant, conversation_id)

    async def get_response(self, response_id: str) -> dict[str, Any]:
        with _engine_errors():
            return await self._services.responses.retrieve(self._tenant, response_id)

    async def response_input_items(self, response_id: str) -> list[Item]:
        items: list[Item] = []
        after: str | None = None
        with _engine_errors():
            while True:
                query = ListQuery(after=after, limit=_PAGE, order="asc")
                page = await self._services.responses.list_input_items(
                    self._tenant, response_id, query
                )
                items.extend(page["data"])
                if not page["has_more"]:
                    return items
                after = page["last_id"]

    async def delete_response(self, response_id: str) -> dict[str, Any]:
        with _engine_errors():
            return await self._services.responses.delete(self._tenant, response_id)

    async def aclose(self) -> None:
        await self._services.aclose()


@contextmanager
def _engine_errors() -> Iterator[None]:
    """The engine's errors (and invalid input) as messages for the terminal."""
    try:
        yield
    except ThreadlineError as exc:
        raise BackendError(exc.message) from exc
    except ValidationError as exc:
        raise BackendError(f"invalid input: {validation_summary(exc)}") from exc


def validation_summary(exc: ValidationError, limit: int = 3) -> str:
    """The first few problems of a pydantic error, each as `where: what`."""
    parts = []
    for error in exc.errors()[:limit]:
        where = "".join(
            f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p))
            for i, p in enumerate(error["loc"])
        )
        parts.append(f"{where or 'document'}: {error['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
