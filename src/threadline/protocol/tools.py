"""Tool definitions and `tool_choice`."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from threadline.protocol.content import Flag, WireModel
from threadline.protocol.vector_stores import Filter, RankingOptions


class FunctionTool(WireModel):
    type: Literal["function"]
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: Flag | None = None


class McpToolFilter(WireModel):
    """Selects an MCP server's tools by name and/or by their read-only annotation."""

    tool_names: list[str] | None = None
    read_only: Flag | None = None


class McpApprovalFilter(WireModel):
    always: McpToolFilter | None = None
    never: McpToolFilter | None = None


class McpTool(WireModel):
    """A remote MCP server whose tools the model may call; Threadline runs the calls."""

    type: Literal["mcp"]
    server_label: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    server_url: str | None = None
    connector_id: str | None = None
    tunnel_id: str | None = None
    authorization: str | None = None
    headers: dict[str, str] | None = None
    server_description: str | None = None
    allowed_tools: list[str] | McpToolFilter | None = None
    require_approval: Literal["always", "never"] | McpApprovalFilter | None = None
    defer_loading: Flag | None = None
    allowed_callers: list[Any] | None = None


class WebSearchFilters(WireModel):
    allowed_domains: list[str] | None = None


class ApproximateLocation(WireModel):
    type: Literal["approximate"] = "approximate"
    city: str | None = None
    country: str | None = None
    region: str | None = None
    timezone: str | None = None


WEB_SEARCH_TOOL_TYPES = (
    "web_search",
    "web_search_2025_08_26",
    "web_search_preview",
    "web_search_preview_2025_03_11",
)


class WebSearchTool(WireModel):
    type: Literal[
        "web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11"
    ]
    search_context_size: Literal["low", "medium", "high"] | None = None
    filters: WebSearchFilters | None = None
    user_location: ApproximateLocation | None = None
    external_web_access: Flag | None = None
    search_content_types: list[str] | None = None


class FileSearchTool(WireModel):
    type: Literal["file_search"]
    vector_store_ids: list[str] = Field(min_length=1, max_length=16)
    max_num_results: int | None = Field(default=None, ge=1, le=50)
    ranking_options: RankingOptions | None = None
    filters: Filter | None = None


class OtherTool(BaseModel):
    """A tool type Threadline does not run yet; kept so the engine can name it in its 400."""

    model_config = ConfigDict(extra="allow")
    type: str


def _tool_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if kind in ("function", "mcp", "file_search"):
        return str(kind)
    return "web_search" if kind in WEB_SEARCH_TOOL_TYPES else "other"


Tool = Annotated[
    Annotated[FunctionTool, Tag("function")]
    | Annotated[McpTool, Tag("mcp")]
    | Annotated[WebSearchTool, Tag("web_search")]
    | Annotated[FileSearchTool, Tag("file_search")]
    | Annotated[OtherTool, Tag("other")],
    Discriminator(_tool_tag),
]
"""A `tools[]` entry: the types Threadline runs are validated strictly; any other type is kept
so that the engine can refuse it by name."""

WEB_SEARCH_FUNCTION = "web_search"
"""The function name under which the model sees the web search tool."""
FILE_SEARCH_FUNCTION = "file_search"
"""The function name under which the model sees the file search tool."""

_FUNCTION_NAME_LIMIT = 64  # Chat Completions' limit on function names


def mcp_function_name(server_label: str, tool_name: str) -> str:
    """The function name under which the model sees an MCP server's tool: `mcp__<label>__<tool>`,
    made a valid Chat Completions function name (characters outside `[A-Za-z0-9_-]` become `_`,
    and a name too long is cut and given a hash suffix so that it stays unique)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", f"mcp__{server_label}__{tool_name}")
    if len(name) <= _FUNCTION_NAME_LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: _FUNCTION_NAME_LIMIT - 9]}_{digest}"


class FunctionToolChoice(WireModel):
    type: Literal["function"]
    name: str


class AllowedToolsChoice(WireModel):
    type: Literal["allowed_tools"]
    mode: Literal["auto", "required"]
    tools: list[dict[str, Any]]


class HostedToolChoice(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str


ToolChoice = (
    Literal["none", "auto", "required"] | FunctionToolChoice | AllowedToolsChoice | HostedToolChoice
)
