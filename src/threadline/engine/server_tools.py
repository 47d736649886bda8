"""Plan a turn's server-side tools: the MCP servers and web search its `tools` ask for, the tool
lists it can reuse from earlier in the chain or conversation, and the approvals its input
answers. Every 400 about them is raised here, before the turn starts.

The model sees each server-side tool as an ordinary function: `web_search`, and
`mcp__<server_label>__<tool>` for each tool an MCP server offers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from threadline.errors import InvalidRequest, UnsupportedParameter
from threadline.protocol.responses import ResponseCreateParams
from threadline.protocol.tools import (
    WEB_SEARCH_FUNCTION,
    WEB_SEARCH_TOOL_TYPES,
    AllowedToolsChoice,
    FunctionTool,
    HostedToolChoice,
    McpTool,
    McpToolFilter,
    WebSearchTool,
    mcp_function_name,
)
from threadline.storage.base import Item
from threadline.tools.base import McpServer, ServerTools


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


@dataclass(slots=True)
class ServerFunction:
    """One function the model is offered that Threadline runs itself."""

    kind: Literal["mcp", "web_search"]
    name: str
    spec: dict[str, Any]
    """The function definition in the Responses shape (ProviderRequest.tools)."""
    server: McpServerPlan | None = None
    tool_name: str = ""
    """The MCP tool's own name (the model sees `name`)."""
    annotations: dict[str, Any] | None = None


@dataclass(slots=True)
class ApprovedCall:
    request: Item
    """The `mcp_approval_request` item the client approved."""
    server: McpServerPlan


@dataclass(slots=True)
class ServerToolPlan:
    mcp: list[McpServerPlan] = field(default_factory=list)
    web_search: WebSearchTool | None = None
    approved: list[ApprovedCall] = field(default_factory=list)
    max_tool_calls: int | None = None
    first_choice: str | dict[str, Any] | None = None
    """The tool_choice of the first model call when it names a server-side tool; later calls
    use `auto`, or the model would be made to call tools for ever."""
    allowed: list[dict[str, Any]] | None = None
    """`tool_choice.allowed_tools` entries that narrow the server-side tools offered."""

    def offers(self, function: ServerFunction) -> bool:
        if self.allowed is None:
            return True
        for entry in self.allowed:
            kind = entry.get("type")
            if function.kind == "web_search" and kind in WEB_SEARCH_TOOL_TYPES:
                return True
            if (
                function.kind == "mcp"
                and kind == "mcp"
                and function.server is not None
                and entry.get("server_label") == function.server.label
                and entry.get("name") in (function.tool_name, None)
            ):
                return True
        return False


def web_search_function() -> ServerFunction:
    return ServerFunction(
        kind="web_search",
        name=WEB_SEARCH_FUNCTION,
        spec={
            "type": "function",
            "name": WEB_SEARCH_FUNCTION,
            "description": "Search the web. Returns numbered results with their URLs; cite the "
            "URLs of the results you use in your answer.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string", "description": "The search query."}},
                "required": ["query"],
            },
        },
    )


def mcp_function(plan: McpServerPlan, tool: dict[str, Any]) -> ServerFunction:
    name = mcp_function_name(plan.label, tool["name"])
    description = tool.get("description") or ""
    if plan.tool.server_description:
        description = f"{description} (MCP server '{plan.label}': {plan.tool.server_description})"
    spec: dict[str, Any] = {
        "type": "function",
        "name": name,
        "parameters": tool.get("input_schema") or {"type": "object", "properties": {}},
    }
    if description:
        spec["description"] = description.strip()
    return ServerFunction(
        kind="mcp",
        name=name,
        spec=spec,
        server=plan,
        tool_name=tool["name"],
        annotations=tool.get("annotations"),
    )


def plan_server_tools(
    params: ResponseCreateParams,
    history: list[Item],
    input_items: list[Item],
    tools: ServerTools | None,
) -> ServerToolPlan | None:
    """The plan, or None when the turn runs no server-side tool."""
    plan = ServerToolPlan(max_tool_calls=params.max_tool_calls)
    labels: set[str] = set()
    for index, tool in enumerate(params.tools or ()):
        where = f"tools[{index}]"
        if isinstance(tool, McpTool):
            if tool.server_label in labels:
                raise InvalidRequest(
                    f"Duplicate server_label '{tool.server_label}' in tools.",
                    param=f"{where}.server_label",
                )
            labels.add(tool.server_label)
            plan.mcp.append(
                McpServerPlan(tool, _server(tool, where), _listed(history, tool.server_label))
            )
        elif isinstance(tool, WebSearchTool):
            if tools is None or tools.web_search is None:
                raise UnsupportedParameter(
                    "Web search is not configured on this server. "
                    + (tools.web_search_hint if tools else ""),
                    param=f"{where}.type",
                )
            plan.web_search = tool
        elif (
            isinstance(tool, FunctionTool)
            and tool.name == WEB_SEARCH_FUNCTION
            and any(isinstance(t, WebSearchTool) for t in params.tools or ())
        ):
            raise InvalidRequest(
                f"The function name '{WEB_SEARCH_FUNCTION}' is taken by the web_search tool.",
                param=f"{where}.name",
            )
    plan.approved = _approvals(history, input_items, plan.mcp)
    if not plan.mcp and plan.web_search is None:
        return None
    if tools is None:
        raise UnsupportedParameter("Server-side tools are not available on this server.")
    _apply_choice(plan, params.tool_choice)
    return plan


def _server(tool: McpTool, where: str) -> McpServer:
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
    return McpServer(label=tool.server_label, url=tool.server_url, headers=headers)


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
) -> list[ApprovedCall]:
    if not any(item.get("type") == "mcp_approval_response" for item in input_items):
        return []  # the common case, without a walk through the whole history
    requests = {i["id"]: i for i in history if i.get("type") == "mcp_approval_request"}
    answered = {
        i.get("approval_request_id")
        for i in history
        if i.get("type") in ("mcp_approval_response", "mcp_call")
    }
    by_label = {plan.label: plan for plan in servers}
    approved: list[ApprovedCall] = []
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
            continue  # the model is told of the refusal when the context is translated
        server = by_label.get(request["server_label"])
        if server is None:
            raise InvalidRequest(
                f"The approved call is for MCP server '{request['server_label']}', which is not "
                "in 'tools': send the same mcp tool again with the approval.",
                param="tools",
            )
        approved.append(ApprovedCall(request, server))
    return approved


def _apply_choice(plan: ServerToolPlan, choice: object) -> None:
    if isinstance(choice, AllowedToolsChoice):
        plan.allowed = [t for t in choice.tools if t.get("type") != "function"]
        return
    if not isinstance(choice, HostedToolChoice):
        return
    extra = choice.model_extra or {}
    if choice.type in WEB_SEARCH_TOOL_TYPES:
        plan.first_choice = {"type": "function", "name": WEB_SEARCH_FUNCTION}
    elif choice.type == "mcp":
        label, name = extra.get("server_label"), extra.get("name")
        plan.first_choice = (
            {"type": "function", "name": mcp_function_name(str(label), str(name))}
            if name
            else "required"
        )


def _matches(rule: McpToolFilter, name: str, annotations: dict[str, Any] | None) -> bool:
    if rule.tool_names is not None and name not in rule.tool_names:
        return False
    if rule.read_only is not None:
        read_only = bool((annotations or {}).get("readOnlyHint", False))
        if read_only != rule.read_only:
            return False
    return True


def echoed_tools(tools: Sequence[object] | None) -> list[dict[str, Any]]:
    """`tools` as the Response object echoes them. Credentials an mcp tool carries
    (`authorization`, `headers`) are never echoed, so they are never stored either."""
    echoed: list[dict[str, Any]] = []
    for tool in tools or ():
        if isinstance(tool, FunctionTool):
            dump = tool.model_dump(exclude_none=True)
            echoed.append({"parameters": None, "strict": None, "description": None, **dump})
        elif isinstance(tool, McpTool):
            dump = tool.model_dump(exclude_none=True, exclude={"authorization", "headers"})
            echoed.append(
                {
                    "allowed_tools": None,
                    "headers": None,
                    "require_approval": "always",
                    **dump,
                }
            )
        elif isinstance(tool, WebSearchTool):
            dump = tool.model_dump(exclude_none=True)
            echoed.append(
                {"search_context_size": "medium", "filters": None, "user_location": None, **dump}
            )
    return echoed
