"""Remote MCP servers (`{"type": "mcp", …}` tools): the model sees each tool a server offers as
the function `mcp__<server_label>__<tool>`.

Event order, as OpenAI streams them:
    mcp_list_tools   output_item.added, mcp_list_tools.in_progress, .completed | .failed,
                     output_item.done
    mcp_call         output_item.added, mcp_call_arguments.delta, mcp_call_arguments.done,
                     mcp_call.in_progress, mcp_call.completed | .failed, output_item.done

Tool lists are reused from an earlier `mcp_list_tools` item of the chain or conversation.
Approvals: a call needs one unless `require_approval` says `never` for the tool; the turn then
ends with an `mcp_approval_request`, and a later turn whose input approves it runs the call
first. On later turns an `mcp_call` is replayed as the call and its output (or error); a refused
request as the call the model asked for, answered by the refusal; an approved request as
nothing (the `mcp_call` that ran it follows); `mcp_list_tools` as nothing (the tools are in
the request's tool list).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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
from threadline.protocol.tools import McpTool, McpToolFilter, mcp_function_name
from threadline.storage.base import Item
from threadline.tools.base import McpServer, ToolFailure


@dataclass(slots=True)
class McpServerPlan:
    tool: McpTool
    server: McpServer
    listed: list[dict[str, Any]] | None = None
    """The tools of an earlier `mcp_list_tools` item for this server_label, reused instead of
    listing again; None: list them at the start of the turn."""

    @property
    def label(self) -> str:
        return self.tool.server_label

    def allows(self, name: str, annotations: dict[str, Any] | None) -> bool:
        allowed = self.tool.allowed_tools
        if allowed is None:
            return True
        if isinstance(allowed, list):
            return name in allowed
        return _matches(allowed, name, annotations)

    def needs_approval(self, name: str, annotations: dict[str, Any] | None) -> bool:
        """OpenAI's rule: approval unless `require_approval` says `never` for this tool. With
        filters, `never` wins, then `always`; a tool matched by neither needs approval unless
        only an `always` filter was given."""
        rule = self.tool.require_approval
        if rule is None or rule == "always":
            return True
        if rule == "never":
            return False
        if rule.never is not None and _matches(rule.never, name, annotations):
            return False
        if rule.always is not None and _matches(rule.always, name, annotations):
            return True
        return rule.never is not None or rule.always is None


@dataclass(slots=True, frozen=True)
class _Tool:
    """What running an MCP function needs: its server and the tool's own name."""

    server: McpServerPlan
    name: str
    annotations: dict[str, Any] | None


@dataclass(slots=True)
class _Approved:
    request: Item
    server: McpServerPlan


@dataclass
class McpPlan(KindPlan):
    kind: ServerToolKind
    servers: list[McpServerPlan]
    approved: list[_Approved] = field(default_factory=list)
    _functions: dict[str, ServerFunction] = field(default_factory=dict)

    async def prepare(self, steps: ToolSteps) -> AsyncIterator[Event]:
        for server in self.servers:
            if server.listed is None:
                async for event in _list_tools(server, steps):
                    yield event
            for tool in server.listed or ():
                if server.allows(tool["name"], tool.get("annotations")):
                    function = self._function(server, tool)
                    self._functions.setdefault(function.name, function)
        for approved in self.approved:
            request = approved.request
            function = self._function(approved.server, {"name": request["name"]})
            async for event in _call(
                function, request["arguments"], steps, approval_request_id=request["id"]
            ):
                yield event

    def calls_made_before(self) -> int:
        return len(self.approved)

    def functions(self) -> list[ServerFunction]:
        return list(self._functions.values())

    def allowed_by(self, function: ServerFunction, entry: dict[str, Any]) -> bool:
        tool: _Tool = function.detail
        return (
            entry.get("type") == "mcp"
            and entry.get("server_label") == tool.server.label
            and entry.get("name") in (tool.name, None)
        )

    def needs_approval(self, function: ServerFunction) -> bool:
        tool: _Tool = function.detail
        return tool.server.needs_approval(tool.name, tool.annotations)

    def request_approval(
        self, function: ServerFunction, arguments: str, steps: ToolSteps
    ) -> list[Event]:
        tool: _Tool = function.detail
        index, events = steps.out.add_item(
            {
                "id": ids.new_id(ids.MCP_APPROVAL_REQUEST),
                "type": "mcp_approval_request",
                "server_label": tool.server.label,
                "name": tool.name,
                "arguments": arguments,
            }
        )
        return [*events, steps.out.finish_item(index)]

    def run(
        self, function: ServerFunction, arguments: str, steps: ToolSteps
    ) -> AsyncIterator[Event]:
        return _call(function, arguments, steps)

    def _function(self, server: McpServerPlan, tool: dict[str, Any]) -> ServerFunction:
        name = mcp_function_name(server.label, tool["name"])
        description = tool.get("description") or ""
        if server.tool.server_description:
            description = (
                f"{description} (MCP server '{server.label}': {server.tool.server_description})"
            )
        spec: dict[str, Any] = {
            "type": "function",
            "name": name,
            "parameters": tool.get("input_schema") or {"type": "object", "properties": {}},
        }
        if description:
            spec["description"] = description.strip()
        detail = _Tool(server, tool["name"], tool.get("annotations"))
        return ServerFunction(name, spec, self, detail)


class McpKind(ServerToolKind):
    tool_types = ("mcp",)
    item_types = frozenset(
        {"mcp_list_tools", "mcp_call", "mcp_approval_request", "mcp_approval_response"}
    )

    def plan(self, entries: Sequence[tuple[int, Any]], context: PlanContext) -> KindPlan:
        servers: list[McpServerPlan] = []
        labels: set[str] = set()
        for index, tool in entries:
            where = f"tools[{index}]"
            if tool.server_label in labels:
                raise InvalidRequest(
                    f"Duplicate server_label '{tool.server_label}' in tools.",
                    param=f"{where}.server_label",
                )
            labels.add(tool.server_label)
            server = _server(tool, where, context.tenant)
            servers.append(McpServerPlan(tool, server, _listed(context.history, tool.server_label)))
        approved = _approvals(context.history, context.input_items, servers)
        return McpPlan(self, servers, approved)

    def echo(self, tool: Any) -> dict[str, Any]:
        # Credentials (`authorization`, `headers`) are never echoed, so never stored either.
        dump = tool.model_dump(exclude_none=True, exclude={"authorization", "headers"})
        return {"allowed_tools": None, "headers": None, "require_approval": "always", **dump}

    def replay(self, item: Item, items: Sequence[Item]) -> list[Item]:
        kind = item.get("type")
        if kind == "mcp_call":
            name = mcp_function_name(item["server_label"], item["name"])
            return call_and_output(
                item["id"], name, item.get("arguments") or "{}", _call_output(item)
            )
        if kind == "mcp_approval_request":
            refusal = next(
                (
                    i
                    for i in items
                    if i.get("type") == "mcp_approval_response"
                    and i.get("approval_request_id") == item["id"]
                    and not i.get("approve")
                ),
                None,
            )
            if refusal is None:
                return []  # approved: its mcp_call follows; unanswered: no valid context
            reason = refusal.get("reason")
            return call_and_output(
                item["id"],
                mcp_function_name(item["server_label"], item["name"]),
                item.get("arguments") or "{}",
                "The user declined to run this tool call."
                + (f" Reason: {reason}" if reason else ""),
            )
        return []


async def _list_tools(plan: McpServerPlan, steps: ToolSteps) -> AsyncIterator[Event]:
    item: dict[str, Any] = {
        "id": ids.new_id(ids.MCP_LIST_TOOLS),
        "type": "mcp_list_tools",
        "server_label": plan.label,
        "tools": [],
        "error": None,
    }
    out = steps.out
    index, events = out.add_item(item)
    for event in events:
        yield event
    yield out.item_event("response.mcp_list_tools.in_progress", index)
    try:
        infos = await steps.tools.mcp.list_tools(plan.server)
    except ToolFailure as exc:
        item["error"] = exc.message
        plan.listed = []
        yield out.item_event("response.mcp_list_tools.failed", index)
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
        yield out.item_event("response.mcp_list_tools.completed", index)
    yield out.finish_item(index)


async def _call(
    function: ServerFunction,
    arguments: str,
    steps: ToolSteps,
    *,
    approval_request_id: str | None = None,
) -> AsyncIterator[Event]:
    tool: _Tool = function.detail
    item: dict[str, Any] = {
        "id": ids.new_id(ids.MCP_CALL),
        "type": "mcp_call",
        "status": "in_progress",
        "server_label": tool.server.label,
        "name": tool.name,
        "arguments": "",
        "output": None,
        "error": None,
        "approval_request_id": approval_request_id,
    }
    out = steps.out
    index, events = out.add_item(item)
    for event in events:
        yield event
    yield out.item_event("response.mcp_call_arguments.delta", index, delta=arguments)
    item["arguments"] = arguments
    yield out.item_event("response.mcp_call_arguments.done", index, arguments=arguments)
    yield out.item_event("response.mcp_call.in_progress", index)
    try:
        result = await steps.tools.mcp.call_tool(
            tool.server.server, tool.name, arguments_object(arguments)
        )
    except ToolFailure as exc:
        item["error"] = exc.error
    else:
        if result.is_error:
            item["error"] = {"type": "mcp_tool_execution_error", "content": result.content}
        else:
            item["output"] = result.output
    item["status"] = "failed" if item["error"] else "completed"
    yield out.item_event(f"response.mcp_call.{item['status']}", index)
    yield out.finish_item(index)


def _call_output(item: Item) -> str:
    """What the model is told of an `mcp_call`: its output, or its error."""
    error: Any = item.get("error")
    if not error:
        return str(item.get("output") or "")
    if isinstance(error, dict):
        if error.get("type") == "mcp_tool_execution_error":
            content = error.get("content")
            texts = (
                [str(block.get("text", "")) for block in content if isinstance(block, dict)]
                if isinstance(content, list)
                else [str(content)]
            )
            return "Error: " + "\n".join(texts)
        return f"Error: {error.get('message', '')}"
    return f"Error: {error}"


def _server(tool: McpTool, where: str, tenant: str) -> McpServer:
    if tool.connector_id or tool.tunnel_id:
        name = "connector_id" if tool.connector_id else "tunnel_id"
        raise UnsupportedParameter(
            f"MCP '{name}' is not supported: give the MCP server's 'server_url'.",
            param=f"{where}.{name}",
        )
    if not tool.server_url:
        raise InvalidRequest(
            "Missing required parameter: an mcp tool needs 'server_url'.",
            param=f"{where}.server_url",
            code="missing_required_parameter",
        )
    parts = urlsplit(tool.server_url)
    if parts.username is not None or parts.password is not None:
        # The URL is echoed and stored with the response; credentials must not be.
        raise InvalidRequest(
            "Invalid 'server_url': it carries credentials (user:password@), which would be "
            "stored and echoed with the response. Give them in 'authorization' or 'headers', "
            "which are never stored.",
            param=f"{where}.server_url",
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(
            f"Invalid 'server_url': '{tool.server_url[:200]}' is not an http(s) URL.",
            param=f"{where}.server_url",
        )
    headers = dict(tool.headers or {})
    if tool.authorization:
        headers["Authorization"] = f"Bearer {tool.authorization}"
    return McpServer(label=tool.server_label, url=tool.server_url, headers=headers, tenant=tenant)


def _listed(history: list[Item], label: str) -> list[dict[str, Any]] | None:
    for item in reversed(history):
        if (
            item.get("type") == "mcp_list_tools"
            and item.get("server_label") == label
            and not item.get("error")
        ):
            return list(item.get("tools") or [])
    return None


def _approvals(
    history: list[Item], input_items: list[Item], servers: Sequence[McpServerPlan]
) -> list[_Approved]:
    if not any(item.get("type") == "mcp_approval_response" for item in input_items):
        return []  # the common case, without a walk through the whole history
    requests = {i["id"]: i for i in history if i.get("type") == "mcp_approval_request"}
    answered = {
        i.get("approval_request_id")
        for i in history
        if i.get("type") in ("mcp_approval_response", "mcp_call")
    }
    by_label = {plan.label: plan for plan in servers}
    approved: list[_Approved] = []
    for index, item in enumerate(input_items):
        if item.get("type") != "mcp_approval_response":
            continue
        where = f"input[{index}].approval_request_id"
        request_id = item["approval_request_id"]
        request = requests.get(request_id)
        if request is None:
            raise InvalidRequest(
                f"No mcp_approval_request with id '{request_id}' found in the previous "
                "response or conversation.",
                param=where,
            )
        if request_id in answered:
            raise InvalidRequest(
                f"The mcp_approval_request '{request_id}' was already answered.", param=where
            )
        answered.add(request_id)
        if not item["approve"]:
            continue  # the model is told of the refusal when the context is replayed
        server = by_label.get(request["server_label"])
        if server is None:
            raise InvalidRequest(
                f"The approved call is for MCP server '{request['server_label']}', which is not "
                "in 'tools': send the same mcp tool again with the approval.",
                param="tools",
            )
        approved.append(_Approved(request, server))
    return approved


def _matches(rule: McpToolFilter, name: str, annotations: dict[str, Any] | None) -> bool:
    if rule.tool_names is not None and name not in rule.tool_names:
        return False
    if rule.read_only is not None:
        read_only = bool((annotations or {}).get("readOnlyHint", False))
        if read_only != rule.read_only:
            return False
    return True
