"""One server-side tool step each: list an MCP server's tools, call one, ask for approval, search
the web. Each adds its output item and streams OpenAI's events for it; a failing tool becomes
an item with its error (and text telling the model), never a failed response.

Event order, as OpenAI streams them:
    mcp_list_tools   output_item.added, mcp_list_tools.in_progress, .completed | .failed,
                     output_item.done
    mcp_call         output_item.added, mcp_call_arguments.delta, mcp_call_arguments.done,
                     mcp_call.in_progress, mcp_call.completed | .failed, output_item.done
    web_search_call  output_item.added, web_search_call.in_progress, .searching, .completed,
                     output_item.done (a failed search skips .completed)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from threadline import ids
from threadline.engine.assembler import OutputAssembler
from threadline.engine.events import Event
from threadline.engine.server_tools import McpServerPlan, ServerFunction
from threadline.protocol.tools import WebSearchTool
from threadline.tools.base import SearchQuery, SearchResult, ServerTools, ToolFailure

_RESULTS = {"low": 3, "medium": 5, "high": 8}
_SNIPPET_CHARS = {"low": 300, "medium": 600, "high": 1200}
_INVALID_PARAMS = -32602  # JSON-RPC's code for bad arguments


@dataclass(slots=True)
class Outcome:
    """What the model is told about a tool step."""

    text: str = ""


class ToolSteps:
    def __init__(self, tools: ServerTools, assembler: OutputAssembler) -> None:
        self._tools = tools
        self._out = assembler

    async def list_tools(self, plan: McpServerPlan) -> AsyncIterator[Event]:
        item: dict[str, Any] = {
            "id": ids.new_id(ids.MCP_LIST_TOOLS),
            "type": "mcp_list_tools",
            "server_label": plan.label,
            "tools": [],
            "error": None,
        }
        index, events = self._out.add_item(item)
        for event in events:
            yield event
        yield self._out.item_event("response.mcp_list_tools.in_progress", index)
        try:
            infos = await self._tools.mcp.list_tools(plan.server)
        except ToolFailure as exc:
            item["error"] = exc.message
            plan.listed = []
            yield self._out.item_event("response.mcp_list_tools.failed", index)
        else:
            listed = []
            for info in infos:
                if not plan.allows(info.name, info.annotations):
                    continue
                tool: dict[str, Any] = {"name": info.name, "input_schema": info.input_schema}
                if info.description is not None:
                    tool["description"] = info.description
                tool["annotations"] = info.annotations
                listed.append(tool)
            item["tools"] = plan.listed = listed
            yield self._out.item_event("response.mcp_list_tools.completed", index)
        yield self._out.finish_item(index)

    def approval_request(self, function: ServerFunction, arguments: str) -> list[Event]:
        if function.server is None:
            raise ValueError("approval is asked for MCP calls only")
        index, events = self._out.add_item(
            {
                "id": ids.new_id(ids.MCP_APPROVAL_REQUEST),
                "type": "mcp_approval_request",
                "server_label": function.server.label,
                "name": function.tool_name,
                "arguments": arguments,
            }
        )
        return [*events, self._out.finish_item(index)]

    async def mcp_call(
        self,
        function: ServerFunction,
        arguments: str,
        outcome: Outcome,
        *,
        approval_request_id: str | None = None,
    ) -> AsyncIterator[Event]:
        if function.server is None:
            raise ValueError("not an MCP function")
        item: dict[str, Any] = {
            "id": ids.new_id(ids.MCP_CALL),
            "type": "mcp_call",
            "status": "in_progress",
            "server_label": function.server.label,
            "name": function.tool_name,
            "arguments": "",
            "output": None,
            "error": None,
            "approval_request_id": approval_request_id,
        }
        index, events = self._out.add_item(item)
        for event in events:
            yield event
        yield self._out.item_event("response.mcp_call_arguments.delta", index, delta=arguments)
        item["arguments"] = arguments
        yield self._out.item_event("response.mcp_call_arguments.done", index, arguments=arguments)
        yield self._out.item_event("response.mcp_call.in_progress", index)
        try:
            result = await self._tools.mcp.call_tool(
                function.server.server, function.tool_name, _arguments(arguments)
            )
        except ToolFailure as exc:
            item["error"] = exc.error
            outcome.text = f"Error: {exc.message}"
        else:
            if result.is_error:
                item["error"] = {"type": "mcp_tool_execution_error", "content": result.content}
                outcome.text = f"Error: {result.output}"
            else:
                item["output"] = outcome.text = result.output
        item["status"] = "failed" if item["error"] else "completed"
        yield self._out.item_event(f"response.mcp_call.{item['status']}", index)
        yield self._out.finish_item(index)

    async def web_search(
        self, config: WebSearchTool, arguments: str, outcome: Outcome
    ) -> AsyncIterator[Event]:
        backend = self._tools.web_search
        item: dict[str, Any] = {
            "id": ids.new_id(ids.WEB_SEARCH_CALL),
            "type": "web_search_call",
            "status": "in_progress",
            "action": {"type": "search"},
        }
        index, events = self._out.add_item(item)
        for event in events:
            yield event
        yield self._out.item_event("response.web_search_call.in_progress", index)
        item["status"] = "searching"
        yield self._out.item_event("response.web_search_call.searching", index)
        size = config.search_context_size or "medium"
        try:
            query = str(_arguments(arguments).get("query") or "").strip()
            if not query:
                raise ToolFailure("The search needs a non-empty 'query'.", code=400)
            item["action"] = {"type": "search", "query": query, "queries": [query]}
            if backend is None:
                raise ToolFailure("No web search backend is configured.", code=503)
            results = await backend.search(
                SearchQuery(
                    query=query,
                    max_results=_RESULTS[size],
                    allowed_domains=tuple(
                        (config.filters.allowed_domains or []) if config.filters else []
                    ),
                    country=config.user_location.country if config.user_location else None,
                    context_size=size,
                )
            )
        except ToolFailure as exc:
            item["status"] = "failed"
            outcome.text = f"The web search failed: {exc.message}"
        else:
            item["status"] = "completed"
            item["action"] = {
                **item["action"],
                "sources": [{"type": "url", "url": r.url} for r in results],
            }
            self._out.sources.update({r.url: r.title for r in results})
            outcome.text = _results_text(query, results, _SNIPPET_CHARS[size])
            yield self._out.item_event("response.web_search_call.completed", index)
        yield self._out.finish_item(index)


def _arguments(arguments: str) -> dict[str, Any]:
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ToolFailure(
            "The tool arguments are not a JSON object.",
            kind="mcp_protocol_error",
            code=_INVALID_PARAMS,
        )
    return parsed


def _results_text(query: str, results: list[SearchResult], snippet_chars: int) -> str:
    if not results:
        return f'No web results for "{query}".'
    lines = [f'Web results for "{query}":']
    for number, result in enumerate(results, 1):
        snippet = result.snippet.strip()
        if len(snippet) > snippet_chars:
            snippet = snippet[:snippet_chars].rstrip() + "…"
        lines.append(f"[{number}] {result.title}\nURL: {result.url}\n{snippet}".rstrip())
    lines.append("Cite the URLs of the results you use.")
    return "\n\n".join(lines)
