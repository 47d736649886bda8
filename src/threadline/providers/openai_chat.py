"""Adapter for any OpenAI-compatible Chat Completions endpoint (OpenAI, Ollama, vLLM,
llama.cpp, Groq, OpenRouter…). A streaming client's turn is streamed upstream, so the first token
is forwarded as soon as it arrives; a non-streaming client's turn is one plain request.

The client is aiohttp, not httpx: every turn crosses this leg, and at 16 concurrent requests
httpx (over httpcore, h11 and anyio) spent about 1.5 ms of CPU per request where aiohttp spends
under 0.1 ms (docs/performance.md); on one event loop that was the server's throughput ceiling.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from yarl import URL

from threadline.errors import ModelNotFound, UpstreamError, UpstreamTimeout
from threadline.providers.base import (
    Finish,
    FinishReason,
    ProviderEvent,
    ProviderRequest,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    UsageReport,
)
from threadline.providers.chat_messages import to_chat_messages
from threadline.providers.retry import RetryPolicy
from threadline.providers.sse_lines import sse_lines

log = logging.getLogger(__name__)

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
_JSON = {"Content-Type": "application/json"}
# Errors that mean no connection was made, so the request cannot have reached the model.
_NOT_CONNECTED = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
# Errors that mean an open (pooled) connection was lost: closed (FIN) or reset (RST, an OSError).
_DROPPED = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


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
        connect_timeout: float = 10.0,
        read_timeout: float = 300.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.name = name
        self._retry = retry or RetryPolicy()
        self.base_url = base_url.rstrip("/")
        self._configured_models = models or []
        is_openai = urlsplit(self.base_url).hostname == "api.openai.com"
        self._max_tokens_param = max_tokens_param or (
            "max_completion_tokens" if is_openai else "max_tokens"
        )
        # OpenAI's Chat Completions takes no reasoning back; the servers that stream
        # `reasoning_content` read it back, and the others ignore an unknown message field.
        self._send_reasoning = not is_openai if send_reasoning is None else send_reasoning
        self._headers = dict(headers or {})
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        # sock_read bounds each wait for bytes, not the whole answer: a long generation that
        # keeps streaming never times out, a stalled one does.
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._completions_url = URL(f"{self.base_url}/chat/completions")
        self._models_url = URL(f"{self.base_url}/models")
        self._proxy = _proxy_from_environment(self.base_url)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use, inside the event loop that will use it (a session and its pooled
        # connections belong to one loop).
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=1000, limit_per_host=0),
                proxy=self._proxy,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def list_models(self) -> list[str]:
        if self._configured_models:
            return list(self._configured_models)
        try:
            async with self._client().get(
                self._models_url, timeout=aiohttp.ClientTimeout(total=5.0)
            ) as response:
                if response.status >= 400:
                    return []
                data = orjson.loads(await response.read()).get("data", [])
            return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError, AttributeError):
            return []

    def chat_body(self, request: ProviderRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": to_chat_messages(
                request.instructions, request.items, send_reasoning=self._send_reasoning
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
        """Retries happen only before the upstream sent its first event: once a token has
        been relayed to the client, a retry could not be taken back."""
        body = orjson.dumps(self.chat_body(request))
        events = self._events if request.incremental else self._whole_answer
        attempt = 0
        while True:
            answered = False
            try:
                async with self._client().post(
                    self._completions_url, data=body, headers=_JSON
                ) as response:
                    answered = True
                    if response.status >= 400:
                        payload = await response.read()
                        delay = self._retry.delay(attempt, response.status, response.headers)
                        if delay is None:
                            raise self._status_error(response, payload, request.model)
                    else:
                        async for event in events(response):
                            yield event
                        return
            except _NOT_CONNECTED as exc:
                delay = self._retry.delay(attempt, None, None)
                if delay is None:
                    raise self._transport_error(exc) from exc
            except _DROPPED as exc:
                # Closed (FIN) or reset (RST) before any answer: most often a pooled connection
                # the upstream had just timed out (keep-alive), which a new connection fixes at
                # once. Once the answer began, the connection's loss is a failure, not resent.
                if answered or attempt >= self._retry.max_retries:
                    raise self._transport_error(exc) from exc
                delay = 0.0
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise self._transport_error(exc) from exc
            attempt += 1
            log.info("provider %s: retry %d in %.2f s", self.name, attempt, delay)
            await asyncio.sleep(delay)

    def _transport_error(self, exc: Exception) -> UpstreamError:
        if isinstance(exc, TimeoutError):
            return UpstreamTimeout(
                f"Provider '{self.name}' did not answer in time ({type(exc).__name__}); "
                "see THREADLINE_UPSTREAM_CONNECT_TIMEOUT / THREADLINE_UPSTREAM_READ_TIMEOUT."
            )
        # The base URL and the address it failed at are the operator's to read, not the
        # caller's: they would map the network the server sits in.
        where = _without_credentials(self.base_url)
        log.warning("provider %s at %s failed: %s: %s", self.name, where, type(exc).__name__, exc)
        return UpstreamError(
            f"Provider '{self.name}' could not be reached ({type(exc).__name__}); the server's "
            "log has the details."
        )

    async def _whole_answer(self, response: aiohttp.ClientResponse) -> AsyncIterator[ProviderEvent]:
        try:
            completion = orjson.loads(await response.read())
        except orjson.JSONDecodeError:
            raise UpstreamError(f"Provider '{self.name}' sent a malformed answer.") from None
        if not isinstance(completion, dict) or not completion.get("choices"):
            raise UpstreamError(f"Provider '{self.name}' sent an answer without choices.")
        for event in _completion_events(completion):
            yield event

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncIterator[ProviderEvent]:
        finished = done = False
        async for line in sse_lines(response.content.iter_any()):
            # After [DONE], read on to the end: a body left unread closes the connection
            # instead of returning it to the pool.
            if done or not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                continue
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise UpstreamError(
                    f"Provider '{self.name}' sent a malformed stream event: {data[:200]!r}"
                ) from None
            if not isinstance(chunk, dict):
                raise UpstreamError(f"Provider '{self.name}' sent a malformed stream event.")
            if "error" in chunk:
                raise UpstreamError(f"Provider '{self.name}' failed mid-stream: {_message(chunk)}")
            for event in _chunk_events(chunk):
                if isinstance(event, Finish):
                    finished = True
                yield event
        if not finished:
            raise UpstreamError(
                f"Provider '{self.name}' ended the stream before the model finished."
            )

    def _status_error(
        self, response: aiohttp.ClientResponse, body: bytes, model: str
    ) -> UpstreamError | ModelNotFound:
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = {}
        text = body[:300].decode("utf-8", errors="replace")
        message = _message(payload) or text or (response.reason or "")
        status = response.status
        if status == 404:
            return ModelNotFound(
                f"The model '{model}' does not exist at provider '{self.name}': {message}"
            )
        if status in (401, 403):
            return UpstreamError(
                f"Provider '{self.name}' rejected Threadline's credentials ({status}): {message}",
                code="upstream_auth_failed",
            )
        if status == 429:
            return UpstreamError(
                f"Provider '{self.name}' is rate limiting: {message}",
                status_code=429,
                code="rate_limit_exceeded",
                error_type="rate_limit_error",
            )
        if 400 <= status < 500:
            return UpstreamError(
                f"Provider '{self.name}' refused the request: {message}",
                status_code=400,
                code=_code(payload) or "upstream_bad_request",
                error_type="invalid_request_error",
            )
        return UpstreamError(f"Provider '{self.name}' failed with HTTP {status}: {message}")


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _proxy_from_environment(base_url: str) -> str | None:
    """HTTPS_PROXY / HTTP_PROXY / NO_PROXY, read once. (aiohttp's `trust_env` would look them
    up, and read ~/.netrc, on every request.)"""
    parts = urlsplit(base_url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


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


def _tool_choice(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    if isinstance(choice, str):
        return choice
    return {"type": "function", "function": {"name": choice["name"]}}


def _response_format(fmt: dict[str, Any]) -> dict[str, Any]:
    if fmt["type"] == "json_schema":
        schema = {
            k: fmt[k] for k in ("name", "schema", "description", "strict") if fmt.get(k) is not None
        }
        return {"type": "json_schema", "json_schema": schema}
    return {"type": fmt["type"]}


def _message(payload: Any) -> str:
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or "")
        if isinstance(error, str):
            return error
        if isinstance(payload.get("message"), str):
            return str(payload["message"])
    return ""


def _code(payload: Any) -> str | None:
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        code = payload["error"].get("code")
        return str(code) if code else None
    return None
