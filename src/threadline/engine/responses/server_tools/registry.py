"""The server-side tool kinds Threadline runs. Adding a kind is its module and a line here."""

from __future__ import annotations

from threadline.engine.responses.server_tools.base import ServerToolKind
from threadline.engine.responses.server_tools.file_search import FileSearchKind
from threadline.engine.responses.server_tools.mcp import McpKind
from threadline.engine.responses.server_tools.web_search import WebSearchKind

KINDS: tuple[ServerToolKind, ...] = (McpKind(), WebSearchKind(), FileSearchKind())

_BY_TOOL = {tool_type: kind for kind in KINDS for tool_type in kind.tool_types}
_BY_ITEM = {item_type: kind for kind in KINDS for item_type in kind.item_types}


def kind_of_tool(tool_type: str) -> ServerToolKind | None:
    return _BY_TOOL.get(tool_type)


def kind_of_item(item_type: str) -> ServerToolKind | None:
    return _BY_ITEM.get(item_type)
