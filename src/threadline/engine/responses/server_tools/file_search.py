"""File search (`{"type": "file_search", "vector_store_ids": [...], ...}`): the model sees it as
the function `file_search(query)`, run as a hybrid search of the tool's vector stores
(engine/vector_stores/search.py).

Event order, as OpenAI streams it: output_item.added, file_search_call.in_progress,
.searching, .completed, output_item.done (a failed search skips .completed).

The item keeps its `queries` and the `results` the model read (file, filename, score, text,
attributes), so later turns show the model exactly what it was shown; a reader sees the
results only with `include: ["file_search_call.results"]` (engine/disclosure.py). The answer's
mentions of a result's filename become `file_citation` annotations
(engine/responses/citations.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
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
from threadline.engine.vector_stores.filters import check_filter
from threadline.engine.vector_stores.search import SearchRequest, VectorSearch
from threadline.errors import InvalidRequest, ThreadlineError, UnsupportedParameter
from threadline.protocol.tools import FILE_SEARCH_FUNCTION, FileSearchTool, FunctionTool
from threadline.storage.base import Item
from threadline.storage.vector_stores import VectorStoreRecord
from threadline.tools.base import ToolFailure

DEFAULT_RESULTS = 10
_SPEC = {
    "type": "function",
    "name": FILE_SEARCH_FUNCTION,
    "description": "Search the user's uploaded files. Returns numbered passages with the name "
    "of the file each comes from; name the files of the passages you use in your answer.",
    "parameters": {
        "type": "object",
        "properties": {"query": {"type": "string", "description": "What to look for."}},
        "required": ["query"],
    },
}


@dataclass
class FileSearchPlan(KindPlan):
    kind: ServerToolKind
    config: FileSearchTool
    tenant: str
    search: VectorSearch
    param: str
    api_key: str | None = None
    stores: list[VectorStoreRecord] = field(default_factory=list)

    async def check(self) -> None:
        self.stores = await self.search.stores(
            self.tenant, self.config.vector_store_ids, self.param
        )

    def functions(self) -> list[ServerFunction]:
        return [ServerFunction(FILE_SEARCH_FUNCTION, _SPEC, self)]

    def allowed_by(self, function: ServerFunction, entry: dict[str, Any]) -> bool:
        return entry.get("type") == "file_search"

    async def run(
        self, function: ServerFunction, arguments: str, steps: ToolSteps
    ) -> AsyncIterator[Event]:
        out = steps.out
        item: dict[str, Any] = {
            "id": ids.new_id(ids.FILE_SEARCH_CALL),
            "type": "file_search_call",
            "status": "in_progress",
            "queries": [],
            "results": None,
        }
        index, events = out.add_item(item)
        for event in events:
            yield event
        yield out.item_event("response.file_search_call.in_progress", index)
        item["status"] = "searching"
        yield out.item_event("response.file_search_call.searching", index)
        try:
            query = str(arguments_object(arguments).get("query") or "").strip()
            if not query:
                raise ToolFailure("The search needs a non-empty 'query'.", code=400)
            item["queries"] = [query]
            outcome = await self.search.search(
                SearchRequest(
                    tenant=self.tenant,
                    vector_store_ids=[s.id for s in self.stores],
                    queries=[query],
                    max_results=self.config.max_num_results or DEFAULT_RESULTS,
                    filters=self.config.filters,
                    ranking=self.config.ranking_options,
                    api_key=self.api_key,
                ),
                self.stores,
            )
        except ToolFailure as exc:
            item["status"], item["error"] = "failed", exc.message
        except ThreadlineError as exc:  # the embedding upstream, or a store gone meanwhile
            item["status"], item["error"] = "failed", exc.message
        else:
            item["status"] = "completed"
            item["results"] = [
                {
                    "file_id": hit.file_id,
                    "filename": hit.filename,
                    "score": hit.score,
                    "text": hit.text,
                    "attributes": hit.attributes,
                }
                for hit in outcome.hits
            ]
            out.files.update({hit.filename: hit.file_id for hit in outcome.hits})
            yield out.item_event("response.file_search_call.completed", index)
        yield out.finish_item(index)


class FileSearchKind(ServerToolKind):
    tool_types = ("file_search",)
    item_types = frozenset({"file_search_call"})
    side_effects = False  # it reads the tenant's vector stores and changes nothing

    def plan(self, entries: Sequence[tuple[int, Any]], context: PlanContext) -> KindPlan:
        index, tool = entries[-1]
        if context.file_search is None:
            raise UnsupportedParameter(
                "File search is not available on this server.", param=f"tools[{index}].type"
            )
        if len(entries) > 1:
            raise InvalidRequest(
                "Give one file_search tool (it may name several vector stores).",
                param=f"tools[{index}]",
            )
        if tool.filters is not None:
            check_filter(tool.filters, f"tools[{index}].filters")
        for position, other in enumerate(context.params.tools or ()):
            if isinstance(other, FunctionTool) and other.name == FILE_SEARCH_FUNCTION:
                raise InvalidRequest(
                    f"The function name '{FILE_SEARCH_FUNCTION}' is taken by the file_search tool.",
                    param=f"tools[{position}].name",
                )
        return FileSearchPlan(
            self,
            tool,
            context.tenant,
            context.file_search,
            f"tools[{index}].vector_store_ids",
            context.api_key,
        )

    def echo(self, tool: Any) -> dict[str, Any]:
        dump = tool.model_dump(exclude_none=True)  # the spec's max_num_results is never null
        return {
            "ranking_options": {"ranker": "auto", "score_threshold": 0.0},
            "filters": None,
            **dump,
        }

    def replay(self, item: Item, items: Sequence[Item]) -> list[Item]:
        queries = [str(q) for q in item.get("queries") or ()]
        query = queries[0] if queries else ""
        return call_and_output(
            item["id"], FILE_SEARCH_FUNCTION, json.dumps({"query": query}), _told(item, query)
        )


def _told(item: Item, query: str) -> str:
    """What the model was told of the search: the numbered passages it read."""
    if item.get("status") == "failed":
        return f"The file search failed: {item.get('error') or 'no results'}"
    results = item.get("results") or []
    if not results:
        return f'No passages in the files match "{query}".'
    lines = [f'Passages from the files for "{query}":']
    for number, result in enumerate(results, 1):
        lines.append(f"[{number}] {result.get('filename', '')}\n{result.get('text', '')}".rstrip())
    lines.append("Name the files of the passages you use.")
    return "\n\n".join(lines)
