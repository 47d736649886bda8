"""Input items: what a request's `input` and a conversation's `items` may hold."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from threadline.protocol.content import Flag, InputContent, MessageContent, WireModel


class Message(WireModel):
    """A message in any of OpenAI's three forms (easy, input, output replay)."""

    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[MessageContent]
    id: str | None = None
    status: Literal["in_progress", "completed", "incomplete"] | None = None
    phase: Literal["commentary", "final_answer"] | None = None


class FunctionCall(WireModel):
    type: Literal["function_call"]
    call_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=128)
    arguments: str
    id: str | None = None
    status: Literal["in_progress", "completed", "incomplete"] | None = None
    namespace: str | None = None
    caller: dict[str, Any] | None = None


class FunctionCallOutput(WireModel):
    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1, max_length=64)
    output: str | list[InputContent]
    id: str | None = None
    status: Literal["in_progress", "completed", "incomplete"] | None = None
    name: str | None = None
    namespace: str | None = None
    caller: dict[str, Any] | None = None


class ItemReference(WireModel):
    type: Literal["item_reference"] = "item_reference"
    id: str


class ReasoningSummary(WireModel):
    type: Literal["summary_text"]
    text: str


class Reasoning(WireModel):
    type: Literal["reasoning"]
    id: str
    summary: list[ReasoningSummary] = Field(default_factory=list)
    content: list[dict[str, Any]] | None = None
    encrypted_content: str | None = None
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class McpListToolsTool(WireModel):
    name: str
    input_schema: dict[str, Any]
    description: str | None = None
    annotations: dict[str, Any] | None = None


class McpListTools(WireModel):
    """The tools an MCP server offered, as listed once per chain or conversation."""

    type: Literal["mcp_list_tools"]
    id: str
    server_label: str
    tools: list[McpListToolsTool]
    error: str | None = None


class McpCall(WireModel):
    type: Literal["mcp_call"]
    id: str
    server_label: str
    name: str
    arguments: str
    output: str | None = None
    error: dict[str, Any] | str | None = None
    status: Literal["in_progress", "completed", "incomplete", "calling", "failed"] | None = None
    approval_request_id: str | None = None


class McpApprovalRequest(WireModel):
    type: Literal["mcp_approval_request"]
    id: str
    server_label: str
    name: str
    arguments: str


class McpApprovalResponse(WireModel):
    """The client's answer to an `mcp_approval_request`, sent in the next turn's input."""

    type: Literal["mcp_approval_response"]
    approval_request_id: str = Field(min_length=1)
    approve: Flag
    id: str | None = None
    reason: str | None = None


class WebSearchCall(WireModel):
    type: Literal["web_search_call"]
    id: str
    status: Literal["in_progress", "searching", "completed", "failed", "incomplete"]
    action: dict[str, Any] | None = None


def _item_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        tag = value.get("type")
        if tag is None:
            # The easy message form and item_reference may omit `type`.
            return "item_reference" if "role" not in value and "id" in value else "message"
        return tag if isinstance(tag, str) else None
    return getattr(value, "type", None)


class Compaction(WireModel):
    """A summary of earlier context made by `POST /v1/responses/compact` (its content sealed)."""

    type: Literal["compaction"]
    id: str | None = None
    encrypted_content: str = Field(max_length=20_971_520)
    created_by: str | None = None


InputItem = Annotated[
    Annotated[Message, Tag("message")]
    | Annotated[FunctionCall, Tag("function_call")]
    | Annotated[FunctionCallOutput, Tag("function_call_output")]
    | Annotated[ItemReference, Tag("item_reference")]
    | Annotated[Reasoning, Tag("reasoning")]
    | Annotated[McpListTools, Tag("mcp_list_tools")]
    | Annotated[McpCall, Tag("mcp_call")]
    | Annotated[McpApprovalRequest, Tag("mcp_approval_request")]
    | Annotated[McpApprovalResponse, Tag("mcp_approval_response")]
    | Annotated[WebSearchCall, Tag("web_search_call")]
    | Annotated[Compaction, Tag("compaction")],
    Discriminator(_item_tag),
]
"""Item types Threadline accepts as input. Others (hosted-tool calls and their outputs) are
refused with a 400 naming the type, because no provider here could act on them."""

SUPPORTED_INPUT_ITEM_TYPES = (
    "message",
    "function_call",
    "function_call_output",
    "item_reference",
    "reasoning",
    "mcp_list_tools",
    "mcp_call",
    "mcp_approval_request",
    "mcp_approval_response",
    "web_search_call",
    "compaction",
)
