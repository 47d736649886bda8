"""Adapter for Anthropic's Messages API (`POST {base_url}/messages`, base_url ending in /v1).

What maps to what:

- Context: `anthropic_messages.py` (system prompt, alternating messages, tool_use/tool_result,
  thinking blocks sent back with their signatures).
- Tools: function tools become Anthropic tools (`input_schema`); tool_choice `auto`, `none`,
  `required` (→ `any`) and a named function (→ `tool`); `parallel_tool_calls: false` →
  `disable_parallel_tool_use`.
- Reasoning: `reasoning.effort` turns on extended thinking with a token budget (low 1,024,
  medium 4,096, high 16,384, kept under `max_tokens`). Thinking streams as reasoning; each
  thinking block's signature is kept in its reasoning item's `encrypted_content`, so a later
  turn (or a stateless client sending the item back) returns it as Anthropic requires. With
  thinking on, Anthropic refuses `temperature` and `top_p`: they are not sent.
- Structured output: `text.format` json_schema → `output_config.format`; json_object → the
  same with the schema `{"type": "object"}`.
- Prompt caching: the system prompt and the conversation up to its last block are marked
  cacheable (`cache_control`), so each turn reads the previous turn's prefix from the cache.
- Usage: input tokens include cache reads and writes (as OpenAI counts them); cached tokens
  are the cache reads.
- Stop reasons: `end_turn`/`stop_sequence`/`pause_turn` → stop, `max_tokens` and
  `model_context_window_exceeded` → length (incomplete), `tool_use` → tool calls, `refusal`
  → content_filter (incomplete).
- Errors: Anthropic's `{"type": "error", "error": {type, message}}`, by status, as for every
  provider; `overloaded_error` (HTTP 529) is retried like a 503.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from threadline.errors import ModelNotFound, UnsupportedParameter, UpstreamError
from threadline.prefix_memo import DEFAULT_MAX_BYTES, PrefixMemo
from threadline.providers.anthropic_messages import (
    REDACTED_PREFIX,
    THINKING_PREFIX,
    AnthropicMessages,
    KeptConversion,
    anthropic_messages,
)
from threadline.providers.base import (
    EmbeddingRequest,
    Embeddings,
    Finish,
    FinishReason,
    ProviderCapabilities,
    ProviderEvent,
    ProviderRequest,
    ReasoningDelta,
    ReasoningSealed,
    TextDelta,
    TokenCount,
    ToolCallDelta,
    ToolChoice,
    UsageReport,
)
from threadline.providers.http_upstream import DEFAULT_MAX_CONNECTIONS, HttpUpstream, error_message
from threadline.providers.retry import RetryPolicy
from threadline.providers.upstream_counts import counted_or_estimated

API_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com/v1"
DEFAULT_MAX_TOKENS = 8192
"""Anthropic requires `max_tokens`; this is sent when the request gives none."""

_STOP: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_THINKING_BUDGET = {"low": 1024, "medium": 4096, "high": 16384}
_MIN_THINKING_BUDGET = 1024
_CACHEABLE = frozenset({"text", "image", "document", "tool_result", "tool_use"})


_COUNTED = ("model", "messages", "system", "tools", "tool_choice", "thinking")
"""What `count_tokens` takes of a Messages body."""


class AnthropicProvider:
    def __init__(
        self,
        name: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        models: list[str] | None = None,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        capabilities: ProviderCapabilities | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 300.0,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        retry: RetryPolicy | None = None,
        history_memo_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.name = name
        self.capabilities = capabilities or ProviderCapabilities()
        # A long history's messages are converted and encoded once, then carried on.
        self._history_messages: PrefixMemo[KeptConversion] = PrefixMemo(history_memo_bytes)
        sent = {"anthropic-version": API_VERSION, **(headers or {})}
        if api_key:
            sent.update(_key_header(api_key))
        self._http = HttpUpstream(
            name,
            base_url,
            headers=sent,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
            retry=retry or RetryPolicy(),
            key_header=_key_header,
        )
        self.base_url = self._http.base_url
        self._messages_url = self._http.url("/messages")
        self._count_url = self._http.url("/messages/count_tokens")
        self._models_url = self._http.url("/models")
        self._configured_models = models or []
        self._default_max_tokens = default_max_tokens

    async def aclose(self) -> None:
        await self._http.aclose()

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        raise UnsupportedParameter(
            f"Provider '{self.name}' speaks Anthropic's API, which has no embeddings: name a "
            "model of a provider that has them.",
            param="model",
        )

    async def count_input_tokens(self, request: ProviderRequest) -> TokenCount:
        body = self.messages_body(dataclasses.replace(request, incremental=False))
        counted = {k: body[k] for k in _COUNTED if k in body}
        return await counted_or_estimated(self._http, self._count_url, counted, request)

    async def list_models(self, api_key: str | None = None) -> list[str]:
        if self._configured_models:
            return list(self._configured_models)
        return await self._http.model_ids(self._models_url, api_key=api_key)

    def messages_body(self, request: ProviderRequest) -> dict[str, Any]:
        converted = anthropic_messages(
            request.instructions,
            request.items,
            memo=self._history_messages,
            history_items=request.history_items,
        )
        _mark_cacheable(converted)
        system = converted.system
        max_tokens = request.max_output_tokens or self._default_max_tokens
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": max_tokens,
            # Already JSON: most of a long history's messages are carried on from its last turn.
            "messages": orjson.Fragment(converted.messages_json()),
        }
        if system:
            body["system"] = system
        if request.incremental:
            body["stream"] = True
        thinking = _thinking_budget(request.reasoning_effort, max_tokens)
        if thinking is not None:
            body["thinking"] = {"type": "enabled", "budget_tokens": thinking}
        else:
            optional = {"temperature": request.temperature, "top_p": request.top_p}
            body.update({k: v for k, v in optional.items() if v is not None})
        if request.tools:
            body["tools"] = [_tool(tool) for tool in request.tools]
            choice = _tool_choice(request.tool_choice, request.parallel_tool_calls)
            if choice is not None:
                body["tool_choice"] = choice
        if request.text_format is not None and request.text_format["type"] != "text":
            body["output_config"] = {"format": _output_format(request.text_format)}
        if request.stop:
            body["stop_sequences"] = request.stop
        end_user = request.safety_identifier or request.user
        if end_user:
            body["metadata"] = {"user_id": end_user}
        return body

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        body = orjson.dumps(self.messages_body(request))
        read = self._events if request.incremental else self._whole_answer
        async for event in self._http.post(
            self._messages_url,
            body,
            read,
            lambda response, payload: self._status_error(response, payload, request.model),
            api_key=request.api_key,
        ):
            yield event

    async def _whole_answer(self, response: aiohttp.ClientResponse) -> AsyncIterator[ProviderEvent]:
        message = await self._http.json_answer(response, "content")
        for event in _message_events(message):
            yield event

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncIterator[ProviderEvent]:
        state = _StreamState()
        async for event in self._http.json_events(response):
            if state.finished:
                continue
            if event.get("type") == "error":
                raise UpstreamError(
                    f"Provider '{self.name}' failed mid-stream: {error_message(event)}",
                    code=_error_type(event),
                )
            for out in state.on_event(event):
                yield out
        if not state.finished:
            raise self._http.cut_short()

    def _status_error(
        self, response: aiohttp.ClientResponse, body: bytes, model: str
    ) -> UpstreamError | ModelNotFound:
        return self._http.status_error(
            response.status, response.reason or "", body, model, code_field="type"
        )


@dataclass(slots=True)
class _StreamState:
    """Anthropic numbers content blocks; the port numbers tool calls. Thinking signatures
    arrive as deltas and are sealed when their block stops."""

    tool_index: dict[int, int] = field(default_factory=dict)
    signatures: dict[int, str] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)
    stop_reason: str | None = None
    finished: bool = False

    def on_event(self, event: dict[str, Any]) -> list[ProviderEvent]:
        kind = event.get("type")
        if kind == "message_start":
            self.usage.update(_ints((event.get("message") or {}).get("usage")))
        elif kind == "content_block_start":
            return self._block_start(int(event.get("index", 0)), event.get("content_block") or {})
        elif kind == "content_block_delta":
            return self._delta(int(event.get("index", 0)), event.get("delta") or {})
        elif kind == "content_block_stop":
            signature = self.signatures.pop(int(event.get("index", 0)), None)
            if signature:
                return [ReasoningSealed(THINKING_PREFIX + signature)]
        elif kind == "message_delta":
            self.stop_reason = (event.get("delta") or {}).get("stop_reason") or self.stop_reason
            self.usage.update(_ints(event.get("usage")))
        elif kind == "message_stop":
            self.finished = True
            return [_usage(self.usage), Finish(_STOP.get(self.stop_reason or "", "stop"))]
        return []

    def _block_start(self, index: int, block: dict[str, Any]) -> list[ProviderEvent]:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return [TextDelta(str(block["text"]))]
        if kind == "tool_use":
            self.tool_index[index] = len(self.tool_index)
            start = ToolCallDelta(
                index=self.tool_index[index], call_id=block.get("id"), name=block.get("name")
            )
            given = block.get("input")
            # Streamed input arrives as input_json_delta; a block that carries it whole
            # (a non-empty object) is sent as its arguments.
            if isinstance(given, dict) and given:
                return [start, ToolCallDelta(index=start.index, arguments=_json(given))]
            return [start]
        if kind == "thinking":
            self.signatures[index] = str(block.get("signature") or "")
            return [ReasoningDelta(str(block["thinking"]))] if block.get("thinking") else []
        if kind == "redacted_thinking":
            return [ReasoningSealed(REDACTED_PREFIX + str(block.get("data") or ""))]
        return []

    def _delta(self, index: int, delta: dict[str, Any]) -> list[ProviderEvent]:
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [TextDelta(str(delta["text"]))]
        if kind == "input_json_delta" and index in self.tool_index:
            return [ToolCallDelta(self.tool_index[index], str(delta.get("partial_json") or ""))]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [ReasoningDelta(str(delta["thinking"]))]
        if kind == "signature_delta":
            self.signatures[index] = self.signatures.get(index, "") + str(
                delta.get("signature") or ""
            )
        return []


def _message_events(message: dict[str, Any]) -> list[ProviderEvent]:
    """The events a stream of this whole message would have given."""
    state = _StreamState()
    events = state.on_event({"type": "message_start", "message": {"usage": message.get("usage")}})
    for index, block in enumerate(message["content"]):
        if not isinstance(block, dict):
            continue
        whole = (
            {**block, "input": block.get("input") or {}}
            if block.get("type") == "tool_use"
            else block
        )
        events += state.on_event(
            {"type": "content_block_start", "index": index, "content_block": whole}
        )
        if whole.get("type") == "tool_use" and not whole["input"]:
            events.append(ToolCallDelta(state.tool_index[index], "{}"))
        events += state.on_event({"type": "content_block_stop", "index": index})
    events += state.on_event({"type": "message_delta", "delta": message})
    return events + state.on_event({"type": "message_stop"})


def _usage(usage: dict[str, int]) -> UsageReport:
    read = usage.get("cache_read_input_tokens", 0)
    written = usage.get("cache_creation_input_tokens", 0)
    return UsageReport(
        input_tokens=usage.get("input_tokens", 0) + read + written,
        output_tokens=usage.get("output_tokens", 0),
        cached_tokens=read,
    )


def _ints(usage: Any) -> dict[str, int]:
    if not isinstance(usage, dict):
        return {}
    return {k: int(v) for k, v in usage.items() if isinstance(v, int) and not isinstance(v, bool)}


def _thinking_budget(effort: str | None, max_tokens: int) -> int | None:
    budget = _THINKING_BUDGET.get(effort or "")
    if budget is None:
        return None
    # The budget must stay under max_tokens, leaving room for the answer itself.
    budget = min(budget, max_tokens // 2)
    return budget if budget >= _MIN_THINKING_BUDGET else None


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {
        "name": tool["name"],
        "input_schema": tool.get("parameters") or {"type": "object", "properties": {}},
    }
    if tool.get("description"):
        converted["description"] = tool["description"]
    if tool.get("strict"):
        converted["strict"] = True
    return converted


def _tool_choice(choice: ToolChoice | None, parallel: bool | None) -> dict[str, Any] | None:
    if choice is not None and choice.mode == "none":
        return {"type": "none"}
    converted: dict[str, Any]
    if choice is not None and choice.mode == "required":
        converted = {"type": "any"}
    elif choice is not None and choice.mode == "function":
        converted = {"type": "tool", "name": choice.function}
    elif choice is None and parallel is not False:
        return None  # Anthropic's default is auto
    else:
        converted = {"type": "auto"}
    if parallel is False:
        converted["disable_parallel_tool_use"] = True
    return converted


def _output_format(text_format: dict[str, Any]) -> dict[str, Any]:
    if text_format["type"] == "json_schema":
        return {"type": "json_schema", "schema": text_format.get("schema") or {"type": "object"}}
    return {"type": "json_schema", "schema": {"type": "object"}}


def _mark_cacheable(converted: AnthropicMessages) -> None:
    """Two cache breakpoints: the system prompt, and the whole conversation so far (the next
    turn extends it, so it reads this one's prefix from the cache). The blocks marked are
    copies: the others may be shared with a kept conversion, which a mark must not reach."""
    system, messages = converted.system, converted.messages
    if system:
        system[-1] = {**system[-1], "cache_control": {"type": "ephemeral"}}
    if messages and messages[-1]["content"]:
        *earlier, last = messages[-1]["content"]
        if last.get("type") in _CACHEABLE and (last.get("type") != "text" or last.get("text")):
            marked = {**last, "cache_control": {"type": "ephemeral"}}
            messages[-1] = {**messages[-1], "content": [*earlier, marked]}


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _error_type(payload: Any) -> str | None:
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        kind = payload["error"].get("type")
        return str(kind) if kind else None
    return None


def _key_header(api_key: str) -> dict[str, str]:
    """Anthropic's API takes its key as `x-api-key`."""
    return {"x-api-key": api_key}
