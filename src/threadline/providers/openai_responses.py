"""Adapter for upstreams that speak the Responses API themselves (`POST {base_url}/responses`:
OpenAI, Azure OpenAI, vLLM, Ollama, LM Studio…).

Threadline still owns the state: every call sends the whole context it rebuilt, with
`store: false`, and never a `previous_response_id`. Reasoning comes back encrypted
(`include: ["reasoning.encrypted_content"]`): the upstream's reasoning item id and encrypted
content are kept together in the stored reasoning item's `encrypted_content`, and sent back as
the reasoning item the upstream gave, so a reasoning model keeps its chain of thought across
turns and tool calls. Reasoning from other providers is not sent (the upstream could not
decrypt it); its text is not either, since the Responses API takes reasoning back only as the
upstream's own items.

The upstream's stream events map one to one onto the port's: text, refusal, reasoning text or
summary deltas, function calls and their argument deltas, and usage (cached and reasoning
tokens). `response.incomplete` ends as length or content_filter, `response.failed` and
`error` events as an upstream error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from threadline import json_runs
from threadline.errors import ModelNotFound, UnsupportedParameter, UpstreamError
from threadline.prefix_memo import DEFAULT_MAX_BYTES, PrefixMemo
from threadline.providers import openai_embeddings
from threadline.providers.base import (
    EmbeddingRequest,
    Embeddings,
    Finish,
    FinishReason,
    Item,
    ProviderCapabilities,
    ProviderEvent,
    ProviderRequest,
    ReasoningDelta,
    ReasoningSealed,
    RefusalDelta,
    TextDelta,
    TokenCount,
    ToolCallDelta,
    ToolChoice,
    UsageReport,
)
from threadline.providers.http_upstream import DEFAULT_MAX_CONNECTIONS, HttpUpstream, bearer
from threadline.providers.retry import RetryPolicy
from threadline.providers.upstream_counts import counted_or_estimated

SEALED_PREFIX = "openai.responses:"
"""`encrypted_content` of a reasoning item this kind produced: the prefix, the upstream's
item id, a colon, then the upstream's encrypted content."""

_INCOMPLETE: dict[str, FinishReason] = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}
_MESSAGE_FIELDS = ("role", "content")
_CALL_FIELDS = ("call_id", "name", "arguments")


class OpenAIResponsesProvider:
    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        models: list[str] | None = None,
        capabilities: ProviderCapabilities | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 300.0,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        retry: RetryPolicy | None = None,
        history_memo_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.name = name
        self.capabilities = capabilities or ProviderCapabilities()
        # A long history's input is translated and encoded once, then carried on.
        self._history_input: PrefixMemo[bytes] = PrefixMemo(history_memo_bytes)
        sent = dict(headers or {})
        if api_key:
            sent.update(bearer(api_key))
        self._http = HttpUpstream(
            name,
            base_url,
            headers=sent,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
            retry=retry or RetryPolicy(),
        )
        self.base_url = self._http.base_url
        self._responses_url = self._http.url("/responses")
        self._models_url = self._http.url("/models")
        self._embeddings_url = self._http.url("/embeddings")
        self._count_url = self._http.url("/responses/input_tokens")
        self._configured_models = models or []

    async def aclose(self) -> None:
        await self._http.aclose()

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        return await openai_embeddings.embed(self._http, self._embeddings_url, request)

    async def count_input_tokens(self, request: ProviderRequest) -> TokenCount:
        body = self.responses_body(dataclasses.replace(request, incremental=False))
        for only_for_a_turn in (
            "store",
            "include",
            "max_output_tokens",
            "temperature",
            "top_p",
            "presence_penalty",
            "frequency_penalty",
            "user",
            "safety_identifier",
            "prompt_cache_key",
        ):
            body.pop(only_for_a_turn, None)
        return await counted_or_estimated(self._http, self._count_url, body, request)

    async def list_models(self, api_key: str | None = None) -> list[str]:
        if self._configured_models:
            return list(self._configured_models)
        return await self._http.model_ids(self._models_url, api_key=api_key)

    def responses_body(self, request: ProviderRequest) -> dict[str, Any]:
        if request.stop:
            raise UnsupportedParameter(
                f"Provider '{self.name}' speaks the Responses API, which has no stop "
                "sequences: send the request without 'stop'.",
                param="stop",
            )
        body: dict[str, Any] = {
            "model": request.model,
            "input": orjson.Fragment(
                upstream_input_json(request.items, self._history_input, request.history_items)
            ),
            "store": False,
            "include": ["reasoning.encrypted_content"],
        }
        if request.instructions:
            body["instructions"] = request.instructions
        if request.incremental:
            body["stream"] = True
        if request.tools:
            body["tools"] = [
                {k: v for k, v in tool.items() if v is not None} for tool in request.tools
            ]
            if request.tool_choice is not None:
                body["tool_choice"] = _tool_choice(request.tool_choice)
            if request.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = request.parallel_tool_calls
        if request.text_format is not None:
            body["text"] = {"format": request.text_format}
        if request.reasoning_effort is not None:
            body["reasoning"] = {"effort": request.reasoning_effort}
        optional = {
            "temperature": request.temperature,
            "top_p": request.top_p,
            "presence_penalty": request.presence_penalty,
            "frequency_penalty": request.frequency_penalty,
            "max_output_tokens": request.max_output_tokens,
            "user": request.user,
            "safety_identifier": request.safety_identifier,
            "prompt_cache_key": request.prompt_cache_key,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        body = orjson.dumps(self.responses_body(request))
        read = self._events if request.incremental else self._whole_answer
        async for event in self._http.post(
            self._responses_url,
            body,
            read,
            lambda response, payload: self._status_error(response, payload, request.model),
            api_key=request.api_key,
        ):
            yield event

    async def _whole_answer(self, response: aiohttp.ClientResponse) -> AsyncIterator[ProviderEvent]:
        answer = await self._http.json_answer(response, "output")
        for event in _StreamState(self.name).whole(answer):
            yield event

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncIterator[ProviderEvent]:
        state = _StreamState(self.name)
        async for event in self._http.json_events(response):
            if not state.finished:
                for out in state.on_event(event):
                    yield out
        if not state.finished:
            raise self._http.cut_short()

    def _status_error(
        self, response: aiohttp.ClientResponse, body: bytes, model: str
    ) -> UpstreamError | ModelNotFound:
        return self._http.status_error(
            response.status, response.reason or "", body, model, code_field="code"
        )


def upstream_input_json(
    items: list[Item], memo: PrefixMemo[bytes] | None = None, history_items: int | None = None
) -> bytes:
    """The JSON of `upstream_input(items)`. With a `memo`, a list that starts with the items of
    an earlier call is translated and encoded from where that call left off (the translation
    is item by item, so the JSON of a history's items is that of its translation); what is
    kept is the JSON of the first `history_items` items (the history the next turn continues,
    or a fork of this one), else of them all."""
    kept = None if memo is None else memo.find(None, items)
    start = 0 if kept is None else len(kept.items)
    settled = b"" if kept is None else kept.result
    checkpoint = len(items) if history_items is None else history_items
    if memo is not None and start <= checkpoint <= len(items):
        settled = json_runs.joined(
            settled, json_runs.run_of(upstream_input(items[start:checkpoint]))
        )
        memo.keep(None, items[:checkpoint], settled, kept, result_bytes=len(settled))
        start = checkpoint
    return json_runs.array(settled, json_runs.run_of(upstream_input(items[start:])))


def upstream_input(items: list[Item]) -> list[Item]:
    """The context as the upstream's input: messages, function calls and their outputs with
    only the fields an input item takes (our ids mean nothing to the upstream), and reasoning
    only where the upstream produced it."""
    sent: list[Item] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            sent.append({"type": "message", **{k: item[k] for k in _MESSAGE_FIELDS}})
        elif kind == "function_call":
            sent.append({"type": "function_call", **{k: item[k] for k in _CALL_FIELDS}})
        elif kind == "function_call_output":
            sent.append(
                {
                    "type": "function_call_output",
                    "call_id": item["call_id"],
                    "output": item["output"],
                }
            )
        elif kind == "reasoning" and (reasoning := _own_reasoning(item)) is not None:
            sent.append(reasoning)
    return sent


def _own_reasoning(item: Item) -> Item | None:
    sealed = item.get("encrypted_content")
    if not isinstance(sealed, str) or not sealed.startswith(SEALED_PREFIX):
        return None
    upstream_id, _, encrypted = sealed.removeprefix(SEALED_PREFIX).partition(":")
    return {
        "type": "reasoning",
        "id": upstream_id,
        "summary": list(item.get("summary") or []),
        "encrypted_content": encrypted,
    }


@dataclass(slots=True)
class _StreamState:
    provider: str
    tool_index: dict[str, int] = field(default_factory=dict)
    """Upstream function call item id → the port's tool call index."""
    finished: bool = False

    def on_event(self, event: dict[str, Any]) -> list[ProviderEvent]:
        kind = event.get("type")
        if kind == "response.output_text.delta":
            return [TextDelta(str(event.get("delta") or ""))]
        if kind in ("response.reasoning_text.delta", "response.reasoning_summary_text.delta"):
            return [ReasoningDelta(str(event.get("delta") or ""))]
        if kind == "response.refusal.delta":
            return [RefusalDelta(str(event.get("delta") or ""))]
        if kind == "response.output_item.added":
            return self._item_added(event.get("item") or {})
        if kind == "response.function_call_arguments.delta":
            index = self.tool_index.get(str(event.get("item_id")))
            return [] if index is None else [ToolCallDelta(index, str(event.get("delta") or ""))]
        if kind == "response.output_item.done":
            return _sealed(event.get("item") or {})
        if kind in ("response.completed", "response.incomplete"):
            self.finished = True
            return self._end(event.get("response") or {})
        if kind in ("response.failed", "error"):
            failed = (event.get("response") or {}).get("error") if kind != "error" else event
            detail = failed if isinstance(failed, dict) else {}
            raise UpstreamError(
                f"Provider '{self.provider}' failed: {detail.get('message') or 'no message'}",
                code=str(detail.get("code") or "") or None,
            )
        return []

    def whole(self, answer: dict[str, Any]) -> list[ProviderEvent]:
        """The events a stream of this whole answer would have given."""
        events: list[ProviderEvent] = []
        for item in answer["output"]:
            if not isinstance(item, dict):
                continue
            kind = item.get("type")
            if kind == "reasoning":
                parts = [*(item.get("content") or ()), *(item.get("summary") or ())]
                text = "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))
                if text:
                    events.append(ReasoningDelta(text))
            elif kind == "message":
                for part in item.get("content") or ():
                    if part.get("type") == "output_text" and part.get("text"):
                        events.append(TextDelta(str(part["text"])))
                    elif part.get("type") == "refusal" and part.get("refusal"):
                        events.append(RefusalDelta(str(part["refusal"])))
            elif kind == "function_call":
                events += self._item_added(item)
                events.append(
                    ToolCallDelta(self.tool_index[str(item.get("id"))], item["arguments"])
                )
            events += _sealed(item)
        self.finished = True
        return events + self._end(answer)

    def _item_added(self, item: dict[str, Any]) -> list[ProviderEvent]:
        if item.get("type") != "function_call":
            return []
        index = self.tool_index[str(item.get("id"))] = len(self.tool_index)
        return [ToolCallDelta(index, call_id=item.get("call_id"), name=item.get("name"))]

    def _end(self, response: dict[str, Any]) -> list[ProviderEvent]:
        usage = response.get("usage") or {}
        report = UsageReport(
            input_tokens=int(usage.get("input_tokens") or 0),
            output_tokens=int(usage.get("output_tokens") or 0),
            cached_tokens=int((usage.get("input_tokens_details") or {}).get("cached_tokens") or 0),
            reasoning_tokens=int(
                (usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0
            ),
        )
        reason: FinishReason = "tool_calls" if self.tool_index else "stop"
        if response.get("status") == "incomplete":
            why = str((response.get("incomplete_details") or {}).get("reason") or "")
            reason = _INCOMPLETE.get(why, "length")
        return [report, Finish(reason)]


def _sealed(item: dict[str, Any]) -> list[ProviderEvent]:
    encrypted = item.get("encrypted_content")
    if item.get("type") != "reasoning" or not isinstance(encrypted, str) or not encrypted:
        return []
    return [ReasoningSealed(f"{SEALED_PREFIX}{item.get('id')}:{encrypted}")]


def _tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "function":
        return {"type": "function", "name": choice.function}
    return choice.mode
