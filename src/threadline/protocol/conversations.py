"""Conversations API request bodies, and Threadline's export document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from threadline.protocol.content import WireModel
from threadline.protocol.items import InputItem
from threadline.protocol.responses import Includable, Metadata

UNIX_TIME_MAX = 2**40
"""Timestamps beyond this (the year 36812) are refused: no real export holds them."""


class ConversationCreateParams(WireModel):
    items: list[InputItem] | None = Field(default=None, max_length=20)
    metadata: Metadata | None = None


class ConversationUpdateParams(WireModel):
    metadata: Metadata | None


class ItemsCreateParams(WireModel):
    items: list[InputItem] = Field(min_length=1, max_length=20)


class ItemsListQuery(WireModel):
    after: str | None = None
    limit: int = Field(default=20, ge=1, le=100)
    order: Literal["asc", "desc"] = "desc"
    include: list[Includable] | None = None


class ConversationsListQuery(WireModel):
    """Threadline's own listing (OpenAI has none). Extra keys are the `metadata[key]=value`
    filters; the route refuses any other."""

    model_config = ConfigDict(extra="allow")

    after: str | None = None
    limit: int = Field(default=20, ge=1, le=100)
    status: Literal["active", "closed", "expired"] | None = None
    created_after: float | None = None
    created_before: float | None = None
    active_after: float | None = None
    active_before: float | None = None


class ExportedConversation(WireModel):
    id: str
    object: Literal["conversation"] = "conversation"
    created_at: float = Field(ge=0, le=UNIX_TIME_MAX)
    metadata: Metadata = Field(default_factory=dict)
    status: Literal["active", "closed", "expired"] | None = None
    last_active_at: float | None = Field(default=None, ge=0, le=UNIX_TIME_MAX)


class ConversationExport(WireModel):
    """What GET /v1/conversations/{id}/export returns and POST /v1/conversations/import takes."""

    object: Literal["conversation.export"]
    version: Literal[1] = 1
    exported_at: int | None = None
    conversation: ExportedConversation
    items: list[InputItem]


class ChatToolCallFunction(WireModel):
    name: str
    arguments: str = "{}"


class ChatToolCall(WireModel):
    id: str
    type: Literal["function"] = "function"
    function: ChatToolCallFunction


class ChatMessage(WireModel):
    """One message of a Chat Completions history (`conversation_history.json`)."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[ChatToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None
