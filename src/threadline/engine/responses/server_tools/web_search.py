"""Web search (`{"type": "web_search", …}` and its dated variants): the model sees it as the
function `web_search(query)`.

Event order, as OpenAI streams it: output_item.added, web_search_call.in_progress, .searching,
.completed, output_item.done (a failed search skips .completed).

The results the model read (title, URL, snippet cut to the context size) are kept in the item's
`results`, so that later turns show the model exactly what it was shown when it searched.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from threadline import ids
from threadline.engine.responses.events import Event
from threadline.engine.responses.server_tools.base import (
    KindPlan,
    PlanContext,
    ServerFunction,
    ServerToolKind,
    ToolSteps,
    arguments_object,
    call_and_output,
)
from threadline.errors import InvalidRequest, UnsupportedParameter
from threadline.protocol.tools import (
    WEB_SEARCH_FUNCTION,
    WEB_SEARCH_TOOL_TYPES,
    FunctionTool,
    WebSearchTool,
)
from threadline.storage.base import Item
from threadline.tools.base import SearchQuery, ToolFailure

_RESULTS = {"low": 3, "medium": 5, "high": 8}
_SNIPPET_CHARS = {"low": 300, "medium": 600, "high": 1200}
_SPEC = {
    "type": "function",
    "name": WEB_SEARCH_FUNCTION,
    "description": "Search the web. Returns numbered results with their URLs; cite the URLs of "
    "the results you use in your answer.",
    "parameters": {
        "type": "object",
        "properties": {"query": {"type": "string", "description": "The search query."}},
        "required": ["query"],
    },
}


@dataclass
class WebSearchPlan(KindPlan):
    kind: ServerToolKind
    config: WebSearchTool

    def functions(self) -> list[ServerFunction]:
        return [ServerFunction(WEB_SEARCH_FUNCTION, _SPEC, self)]

    def allowed_by(self, function: ServerFunction, entry: dict[str, Any]) -> bool:
        return entry.get("type") in WEB_SEARCH_TOOL_TYPES

    async def run(
        self, function: ServerFunction, arguments: str, steps: ToolSteps
    ) -> AsyncIterator[Event]:
        config, backend, out = self.config, steps.tools.web_search, steps.out
        item: dict[str, Any] = {
            "id": ids.new_id(ids.WEB_SEARCH_CALL),
            "type": "web_search_call",
            "status": "in_progress",
            "action": {"type": "search"},
        }
        index, events = out.add_item(item)
        for event in events:
            yield event
        yield out.item_event("response.web_search_call.in_progress", index)
        item["status"] = "searching"
        yield out.item_event("response.web_search_call.searching", index)
        size = config.search_context_size or "medium"
        try:
            query = str(arguments_object(arguments).get("query") or "").strip()
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
            item["error"] = exc.message
        else:
            item["status"] = "completed"
            item["action"] = {
                **item["action"],
                "sources": [{"type": "url", "url": r.url} for r in results],
            }
            limit = _SNIPPET_CHARS[size]
            item["results"] = [
                {"url": r.url, "title": r.title, "snippet": _cut(r.snippet.strip(), limit)}
                for r in results
            ]
            out.sources.update({r.url: r.title for r in results})
            yield out.item_event("response.web_search_call.completed", index)
        yield out.finish_item(index)


class WebSearchKind(ServerToolKind):
    tool_types = WEB_SEARCH_TOOL_TYPES
    item_types = frozenset({"web_search_call"})
    side_effects = False  # it fetches search results and pages, and changes nothing

    def plan(self, entries: Sequence[tuple[int, Any]], context: PlanContext) -> KindPlan:
        index, tool = entries[-1]
        if context.tools is None or context.tools.web_search is None:
            hint = context.tools.web_search_hint if context.tools else ""
            raise UnsupportedParameter(
                "Web search is not configured on this server. " + hint,
                param=f"tools[{index}].type",
            )
        for position, other in enumerate(context.params.tools or ()):
            if isinstance(other, FunctionTool) and other.name == WEB_SEARCH_FUNCTION:
                raise InvalidRequest(
                    f"The function name '{WEB_SEARCH_FUNCTION}' is taken by the web_search tool.",
                    param=f"tools[{position}].name",
                )
        return WebSearchPlan(self, tool)

    def echo(self, tool: Any) -> dict[str, Any]:
        dump = tool.model_dump(exclude_none=True)
        return {"search_context_size": "medium", "filters": None, "user_location": None, **dump}

    def replay(self, item: Item, items: Sequence[Item]) -> list[Item]:
        action = item.get("action") or {}
        query = str(action.get("query", ""))
        return call_and_output(
            item["id"], WEB_SEARCH_FUNCTION, json.dumps({"query": query}), _told(item, query)
        )


def _told(item: Item, query: str) -> str:
    """What the model was told of the search: the numbered results it read."""
    if item.get("status") == "failed":
        return f"The web search failed: {item.get('error') or 'no results'}"
    results = item.get("results")
    if results is None:  # stored before results were kept: the sources are all there is
        sources = (item.get("action") or {}).get("sources") or []
        urls = [str(s.get("url")) for s in sources if isinstance(s, dict)]
        return "Results from: " + ", ".join(urls) if urls else "No web results."
    if not results:
        return f'No web results for "{query}".'
    lines = [f'Web results for "{query}":']
    for number, result in enumerate(results, 1):
        text = f"[{number}] {result.get('title', '')}\nURL: {result.get('url', '')}\n"
        lines.append((text + str(result.get("snippet", ""))).rstrip())
    lines.append("Cite the URLs of the results you use.")
    return "\n\n".join(lines)


def _cut(snippet: str, limit: int) -> str:
    return snippet if len(snippet) <= limit else snippet[:limit].rstrip() + "…"
