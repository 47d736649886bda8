"""One interface over the two places a command can work: a running server, or the database.

`threadline chat`, `conversations` and `responses` are written once against `Backend`.
`LocalBackend` (backend_local.py) runs the engine in this process on the configured database,
as the tenant given with `--tenant`; `HttpBackend` (backend_http.py) talks to a running server
with the official `openai` SDK, plus plain HTTP for Threadline's own endpoints (list, close,
export, import). Both return OpenAI's wire objects as plain dicts and raise `BackendError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

Event = dict[str, Any]
Item = dict[str, Any]
Progress = Callable[[int], None]
"""Called with a number of bytes just sent, for progress bars."""


class BackendError(Exception):
    """A command failed for a reason the user can act on (not found, unreachable, refused)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(slots=True)
class ConversationQuery:
    """The filters of `GET /v1/conversations` (times are unix seconds)."""

    metadata: dict[str, str] = field(default_factory=dict)
    status: str | None = None
    created_after: float | None = None
    created_before: float | None = None
    active_after: float | None = None
    active_before: float | None = None
    after: str | None = None
    limit: int = 20

    def params(self) -> dict[str, str]:
        """As query parameters."""
        params = {f"metadata[{k}]": v for k, v in self.metadata.items()}
        for name in ("status", "created_after", "created_before", "active_after", "active_before"):
            value = getattr(self, name)
            if value is not None:
                params[name] = str(value)
        if self.after is not None:
            params["after"] = self.after
        params["limit"] = str(self.limit)
        return params


class Backend(Protocol):
    @property
    def where(self) -> str:
        """Where the commands act, for messages: a server URL or a database and tenant."""
        ...

    async def check(self) -> None:
        """Raise BackendError when the server or database cannot be reached."""

    def stream_turn(self, model: str, text: str, conversation_id: str) -> AsyncIterator[Event]:
        """Run one turn of a conversation; OpenAI's stream events, ending with a terminal one."""
        ...

    async def create_conversation(self, metadata: dict[str, str]) -> dict[str, Any]: ...

    async def get_conversation(self, conversation_id: str) -> dict[str, Any]: ...

    async def list_conversations(self, query: ConversationQuery) -> dict[str, Any]: ...

    async def conversation_items(self, conversation_id: str) -> list[Item]:
        """Every item of the conversation, oldest first."""
        ...

    async def export_conversation(self, conversation_id: str) -> dict[str, Any]: ...

    async def import_conversation(
        self, document: bytes, progress: Progress | None = None
    ) -> dict[str, Any]:
        """Create a conversation from an export or a chat-message list (JSON bytes)."""
        ...

    async def close_conversation(self, conversation_id: str) -> dict[str, Any]: ...

    async def delete_conversation(self, conversation_id: str) -> dict[str, Any]: ...

    async def get_response(self, response_id: str) -> dict[str, Any]: ...

    async def response_input_items(self, response_id: str) -> list[Item]:
        """Every input item of the response, oldest first."""
        ...

    async def delete_response(self, response_id: str) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...
