"""Adapter for any OpenAI-compatible Chat Completions endpoint (OpenAI, Ollama, vLLM,
llama.cpp, Groq, OpenRouter…). A streaming client's turn is streamed upstream, so the first token
is forwarded as soon as it arrives; a non-streaming client's turn is one plain request. The HTTP
leg (pooling, proxy, timeouts, retries) is `http_upstream.py`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from threadline.errors import ModelNotFound, UpstreamError
from threadline.prefix_memo import DEFAULT_MAX_BYTES, PrefixMemo
from threadline.providers import openai_embeddings, token_estimate
from threadline.providers.base import (
    EmbeddingRequest,
    Embeddings,
    Finish,
    FinishReason,
    ProviderCapabilities,
    ProviderEvent,
    ProviderRequest,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    TokenCount,
    ToolCallDelta,
    ToolChoice,
    UsageReport,
)
from threadline.providers.chat_messages import KeptMessages, chat_messages
from threadline.providers.http_upstream import (
    DEFAULT_MAX_CONNECTIONS,
    HttpUpstream,
    bearer,
    error_message,
)
from threadline.providers.retry import RetryPolicy

log = logging.getLogger(__name__)

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


class OpenAIChatProvider:
    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        max_tokens_param: str | None = None,
        send_reasoning: bool | None = None,
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
        self.base_url = base_url.rstrip("/")
        self._configured_models = models or []
        is_openai = urlsplit(self.base_url).hostname == "api.openai.com"
        self._max_tokens_param = max_tokens_param or (
            "max_completion_tokens" if is_openai else "max_tokens"
        )
        # OpenAI's Chat Completions takes no reasoning back; the servers that stream
        # `reasoning_content` read it back, and the others ignore an unknown message field.
        self._send_reasoning = not is_openai if send_reasoning is None else send_reasoning
        # A long history's messages are converted once, then carried on turn after turn.
        self._history_messages: PrefixMemo[KeptMessages] = PrefixMemo(history_memo_bytes)
        sent = dict(headers or {})
        if api_key:
            sent.update(bearer(api_key))
        self._http = HttpUpstream(
            name,
            self.base_url,
            headers=sent,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
            retry=retry or RetryPolicy(),
        )
        self._completions_url = self._http.url("/chat/completions")
        self._models_url = self._http.url("/models")
        self._embeddings_url = self._http.url("/embeddings")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        return await openai_embeddings.embed(self._http, self._embeddings_url, request)

    async def count_input_tokens(self, request: ProviderRequest) -> TokenCount:
        """Chat Completions has no counting endpoint: always the estimate."""
        return token_estimate.estimate(request)

    async def list_models(self, api_key: str | None = None) -> list[str]:
        if self._configured_models:
            return list(self._configured_models)
        return await self._http.model_ids(self._models_url, api_key=api_key)

    def chat_body(self, request: ProviderRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            # Already JSON: most of a long history's messages are carried on from its last turn.
            "messages": orjson.Fragment(
                chat_messages(
                    request.instructions,
                    request.items,
                    send_reasoning=self._send_reasoning,
                    memo=self._history_messages,
                    history_items=request.history_items,
                ).json()
            ),
        }
        if request.incremental:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        k: v
                        for k, v in (
                            ("name", tool["name"]),
                            ("description", tool.get("description")),
                            ("parameters", tool.get("parameters")),
                            ("strict", tool.get("strict")),
                        )
                        if v is not None
                    },
                }
                for tool in request.tools
            ]
            if request.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = request.parallel_tool_calls
            if request.tool_choice is not None:
                body["tool_choice"] = _tool_choice(request.tool_choice)
        if request.text_format is not None:
            body["response_format"] = _response_format(request.text_format)
        optional = {
            "temperature": request.temperature,
            "top_p": request.top_p,
            "presence_penalty": request.presence_penalty,
            "frequency_penalty": request.frequency_penalty,
            self._max_tokens_param: request.max_output_tokens,
            "reasoning_effort": request.reasoning_effort,
            "user": request.user,
            "safety_identifier": request.safety_identifier,
            "prompt_cache_key": request.prompt_cache_key,
            "stop": request.stop,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        body = orjson.dumps(self.chat_body(request))
        read = self._events if request.incremental else self._whole_answer
        async for event in self._http.post(
            self._completions_url,
            body,
            read,
            lambda response, payload: self._status_error(response, payload, request.model),
            api_key=request.api_key,
        ):
            yield event

    async def _whole_answer(self, response: aiohttp.ClientResponse) -> AsyncIterator[ProviderEvent]:
        completion = await self._http.json_answer(response, "choices")
        if not completion["choices"]:
            raise UpstreamError(f"Provider '{self.name}' sent an answer without choices.")
        for event in _completion_events(completion):
            yield event

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncIterator[ProviderEvent]:
        finished = False
        async for chunk in self._http.json_events(response):
            if "error" in chunk:
                message = error_message(chunk)
                raise UpstreamError(f"Provider '{self.name}' failed mid-stream: {message}")
            for event in _chunk_events(chunk):
                if isinstance(event, Finish):
                    finished = True
                yield event
        if not finished:
            raise self._http.cut_short()

    def _status_error(
        self, response: aiohttp.ClientResponse, body: bytes, model: str
    ) -> UpstreamError | ModelNotFound:
        return self._http.status_error(
            response.status, response.reason or "", body, model, code_field="code"
        )


def _chunk_events(chunk: dict[str, Any]) -> list[ProviderEvent]:
    events: list[ProviderEvent] = []
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            events.append(ReasoningDelta(reasoning))
        content = delta.get("content")
        if isinstance(content, str) and content:
            events.append(TextDelta(content))
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            events.append(RefusalDelta(refusal))
        for call in delta.get("tool_calls") or ():
            function = call.get("function") or {}
            events.append(
                ToolCallDelta(
                    index=int(call.get("index", 0)),
                    arguments=function.get("arguments") or "",
                    call_id=call.get("id"),
                    name=function.get("name"),
                )
            )
        reason = choice.get("finish_reason")
        if reason:
            events.append(Finish(_FINISH.get(reason, "stop")))
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        events.append(
            UsageReport(
                input_tokens=int(usage.get("prompt_tokens") or 0),
                output_tokens=int(usage.get("completion_tokens") or 0),
                cached_tokens=int(
                    (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
                ),
                reasoning_tokens=int(
                    (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
                ),
            )
        )
    return events


def _completion_events(completion: dict[str, Any]) -> list[ProviderEvent]:
    """The events a stream of this whole answer would have given."""
    choice = completion["choices"][0]
    message = choice.get("message") or {}
    delta = {
        "reasoning_content": message.get("reasoning_content") or message.get("reasoning"),
        "content": message.get("content"),
        "refusal": message.get("refusal"),
        "tool_calls": [
            {**call, "index": index} for index, call in enumerate(message.get("tool_calls") or ())
        ],
    }
    chunk = {
        "choices": [{"delta": delta, "finish_reason": choice.get("finish_reason") or "stop"}],
        "usage": completion.get("usage"),
    }
    return _chunk_events(chunk)


def _tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "function":
        return {"type": "function", "function": {"name": choice.function}}
    return choice.mode


def _response_format(fmt: dict[str, Any]) -> dict[str, Any]:
    if fmt["type"] == "json_schema":
        schema = {
            k: fmt[k] for k in ("name", "schema", "description", "strict") if fmt.get(k) is not None
        }
        return {"type": "json_schema", "json_schema": schema}
    return {"type": fmt["type"]}
