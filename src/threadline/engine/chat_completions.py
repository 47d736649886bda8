"""The Chat Completions use case: `POST /v1/chat/completions`, streamed or not, through the same
providers (and provider kinds) as the Responses API.

The messages become the neutral items every provider adapter reads (the shapes of the
Responses API), files are resolved as for a response, and the provider's events are written
back as a `chat.completion` or as `chat.completion.chunk`s. Every 400 is raised by `prepare`,
before the provider is called.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from threadline.engine.clock import Clock, system_clock
from threadline.engine.context import check_tool_calls_answered
from threadline.engine.files.inputs import FileInputs
from threadline.engine.responses.tool_choice import read_chat_choice
from threadline.engine.usage.meter import ANONYMOUS, Charge, Payer, UsageMeter
from threadline.engine.validation import check_metadata
from threadline.errors import InvalidRequest, UnsupportedParameter
from threadline.protocol.chat import (
    AssistantMessage,
    AudioPart,
    ChatCompletionCreateParams,
    ChatMessage,
    FilePart,
    FunctionMessage,
    ImagePart,
    JsonSchemaFormat,
    NamedToolChoice,
    RefusalPart,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
)
from threadline.providers.base import (
    Finish,
    ModelProvider,
    ProviderEvent,
    ProviderRequest,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    UsageReport,
)
from threadline.providers.registry import ProviderRegistry
from threadline.storage.base import Item, Store, StoredCompletion

Chunk = dict[str, Any]

_NOT_RUN = {
    "logprobs": "Log probabilities are not returned by Threadline yet.",
    "top_logprobs": "Log probabilities are not returned by Threadline yet.",
    "logit_bias": "'logit_bias' is not supported.",
    "seed": "'seed' is not supported: sampling is not reproducible across providers.",
    "audio": "Audio output is not supported.",
    "prediction": "Predicted outputs are not supported.",
    "web_search_options": "Web search in Chat Completions is not supported: use the "
    "Responses API's web_search tool.",
    "functions": "'functions' is deprecated: send 'tools'.",
    "function_call": "'function_call' is deprecated: send 'tool_choice'.",
    "verbosity": "'verbosity' is not supported in Chat Completions yet.",
}


@dataclass(slots=True, frozen=True)
class PreparedChat:
    id: str
    tenant: str
    created: int
    model: str
    """As the client named it (echoed)."""
    provider: ModelProvider
    request: ProviderRequest
    include_usage: bool
    kept_messages: list[dict[str, Any]] | None = None
    """With `store: true`, the messages as they were sent: the completion is kept with them."""
    metadata: dict[str, str] = field(default_factory=dict)
    payer: Payer = ANONYMOUS
    end_user: str | None = None
    started_at: float = 0.0


@dataclass(slots=True)
class _Answer:
    """What the provider said so far, as a chat message."""

    content: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    usage: UsageReport | None = None
    finish: str = "stop"

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(self.content) if self.content or not self.tool_calls else None,
            "refusal": "".join(self.refusal) if self.refusal else None,
            "annotations": [],
        }
        if self.refusal and not self.content:
            message["content"] = None
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        return message

    def on(self, event: ProviderEvent) -> dict[str, Any] | None:
        """Take one provider event; the chunk delta it makes, if any."""
        if isinstance(event, TextDelta):
            self.content.append(event.text)
            return {"content": event.text}
        if isinstance(event, RefusalDelta):
            self.refusal.append(event.text)
            return {"refusal": event.text}
        if isinstance(event, ToolCallDelta):
            return self._tool_call(event)
        if isinstance(event, UsageReport):
            self.usage = event
        elif isinstance(event, Finish):
            self.finish = event.reason
        return None

    def _tool_call(self, delta: ToolCallDelta) -> dict[str, Any]:
        call = self.tool_calls.get(delta.index)
        piece: dict[str, Any] = {"index": delta.index, "function": {"arguments": delta.arguments}}
        if call is None:
            call = self.tool_calls[delta.index] = {
                "id": delta.call_id or f"call_{secrets.token_hex(12)}",
                "type": "function",
                "function": {"name": delta.name or "", "arguments": ""},
            }
            piece.update(id=call["id"], type="function")
            piece["function"]["name"] = call["function"]["name"]
        call["function"]["arguments"] += delta.arguments
        return {"tool_calls": [piece]}

    def usage_object(self) -> dict[str, Any]:
        usage = self.usage or UsageReport(0, 0)
        return {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": usage.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


class ChatCompletionService:
    def __init__(
        self,
        providers: ProviderRegistry,
        file_inputs: FileInputs,
        store: Store,
        *,
        clock: Clock = system_clock,
        meter: UsageMeter | None = None,
    ) -> None:
        self._meter = meter
        self._providers = providers
        self._file_inputs = file_inputs
        self._store = store
        """Where `store: true` completions are kept (read back by `stored_completions.py`)."""
        self._clock = clock

    async def prepare(
        self,
        tenant: str,
        params: ChatCompletionCreateParams,
        *,
        provider_key: str | None = None,
        payer: Payer = ANONYMOUS,
    ) -> PreparedChat:
        """Validate, resolve the model and the files. Every 4xx is raised here. `provider_key`
        is the caller's own key for the upstream (bring-your-own-key), never stored."""
        _refuse_unsupported(params)
        if params.metadata is not None:
            check_metadata(params.metadata)
        provider, upstream_model = self._providers.resolve(params.model)
        if params.stop and not provider.capabilities.stop_sequences:
            raise UnsupportedParameter(
                f"The model '{params.model}' is served through an API without stop sequences: "
                "send the request without 'stop'.",
                param="stop",
            )
        items = chat_items(params.messages)
        check_tool_calls_answered(items)
        items = await self._file_inputs.for_provider(
            tenant, items, len(items), native=provider.capabilities.native_files
        )
        request = ProviderRequest(
            model=upstream_model,
            items=items,
            tools=[
                t.function.model_dump(exclude_none=True) | {"type": "function"}
                for t in params.tools or ()
            ],
            tool_choice=read_chat_choice(params),
            parallel_tool_calls=params.parallel_tool_calls if params.tools else None,
            text_format=_text_format(params),
            temperature=params.temperature,
            top_p=params.top_p,
            presence_penalty=params.presence_penalty,
            frequency_penalty=params.frequency_penalty,
            max_output_tokens=params.max_completion_tokens or params.max_tokens,
            reasoning_effort=params.reasoning_effort,
            user=params.user,
            safety_identifier=params.safety_identifier,
            prompt_cache_key=params.prompt_cache_key,
            stop=[params.stop] if isinstance(params.stop, str) else params.stop,
            incremental=bool(params.stream),
            api_key=provider_key,
        )
        options = params.stream_options
        kept = None
        if params.store:
            kept = [m.model_dump(mode="json", exclude_unset=True) for m in params.messages]
        return PreparedChat(
            id=f"chatcmpl-{secrets.token_hex(16)}",
            tenant=tenant,
            created=int(self._clock()),
            model=params.model,
            provider=provider,
            request=request,
            include_usage=bool(params.stream and options and options.include_usage),
            kept_messages=kept,
            metadata=dict(params.metadata or {}),
            payer=payer,
            end_user=None
            if self._meter is None
            else self._meter.end_user(params.user, params.safety_identifier, params.metadata),
            started_at=self._clock(),
        )

    async def complete(self, chat: PreparedChat) -> dict[str, Any]:
        """The whole `chat.completion`; an upstream failure raises its error. A completion to
        keep is stored before it is returned."""
        answer = _Answer()
        async for event in chat.provider.stream(chat.request):
            answer.on(event)
        completion = _completion(chat, answer)
        await self._charge(chat, answer)
        await self._keep(chat, completion)
        return completion

    async def chunks(self, chat: PreparedChat) -> AsyncIterator[Chunk]:
        """The `chat.completion.chunk`s, as OpenAI streams them: the role first, then one a
        delta, then the finish reason, then (when asked) the usage with no choices."""
        answer = _Answer()
        head = _head(chat, "chat.completion.chunk")
        usage: dict[str, Any] = {"usage": None} if chat.include_usage else {}
        yield _chunk(head, {"role": "assistant", "content": ""}, None, usage)
        async for event in chat.provider.stream(chat.request):
            delta = answer.on(event)
            if delta is not None:
                yield _chunk(head, delta, None, usage)
        yield _chunk(head, {}, answer.finish, usage)
        if chat.include_usage:
            yield {**head, "choices": [], "usage": answer.usage_object()}
        # Kept before the stream's `[DONE]`: a completion its client saw end is stored.
        await self._charge(chat, answer)
        await self._keep(chat, _completion(chat, answer))

    async def _charge(self, chat: PreparedChat, answer: _Answer) -> None:
        if self._meter is None:
            return
        await self._meter.charge(
            Charge(
                tenant=chat.tenant,
                payer=chat.payer,
                kind="chat.completion",
                model=chat.model,
                deployment=chat.request.model,
                usage=answer.usage or UsageReport(0, 0),
                started_at=chat.started_at,
                object_id=chat.id,
                end_user=chat.end_user,
                tool_calls=len(answer.tool_calls),
            )
        )

    async def _keep(self, chat: PreparedChat, completion: dict[str, Any]) -> None:
        if chat.kept_messages is None:
            return
        await self._store.save_completion(
            StoredCompletion(
                id=chat.id,
                tenant=chat.tenant,
                created_at=self._clock(),
                model=chat.model,
                metadata=chat.metadata,
                completion=completion,
                messages=chat.kept_messages,
            )
        )


def _completion(chat: PreparedChat, answer: _Answer) -> dict[str, Any]:
    return {
        **_head(chat, "chat.completion"),
        "choices": [
            {
                "index": 0,
                "message": answer.message(),
                "finish_reason": answer.finish,
                "logprobs": None,
            }
        ],
        "usage": answer.usage_object(),
    }


def chat_items(messages: list[ChatMessage]) -> list[Item]:
    """The messages as neutral items: what every provider adapter reads."""
    items: list[Item] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if isinstance(message, SystemMessage):
            items.append(_message(message.role, _text(message.content)))
        elif isinstance(message, UserMessage):
            items.append(_message("user", _user_content(message, where)))
        elif isinstance(message, AssistantMessage):
            items += _assistant_items(message, where)
        elif isinstance(message, ToolMessage):
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.tool_call_id,
                    "output": _text(message.content),
                }
            )
        elif isinstance(message, FunctionMessage):
            raise UnsupportedParameter(
                "The 'function' role is deprecated: send tool messages.", param=f"{where}.role"
            )
    return items


def _message(role: str, content: str | list[dict[str, Any]]) -> Item:
    return {"type": "message", "role": role, "content": content}


def _text(content: str | list[TextPart] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.text for part in content)


def _user_content(message: UserMessage, where: str) -> str | list[dict[str, Any]]:
    if isinstance(message.content, str):
        return message.content
    parts: list[dict[str, Any]] = []
    for number, part in enumerate(message.content):
        if isinstance(part, TextPart):
            parts.append({"type": "input_text", "text": part.text})
        elif isinstance(part, ImagePart):
            image = {"type": "input_image", "image_url": part.image_url.url}
            parts.append(image | {"detail": part.image_url.detail or "auto"})
        elif isinstance(part, FilePart):
            file = part.file
            if (file.file_id is None) == (file.file_data is None):
                raise InvalidRequest(
                    "A file part needs exactly one of 'file_id' and 'file_data'.",
                    param=f"{where}.content[{number}].file",
                )
            given = {"file_id": file.file_id, "file_data": file.file_data}
            given["filename"] = file.filename
            parts.append({"type": "input_file"} | {k: v for k, v in given.items() if v})
        elif isinstance(part, AudioPart):
            raise UnsupportedParameter(
                "Audio input is not supported.", param=f"{where}.content[{number}].type"
            )
    return parts


def _assistant_items(message: AssistantMessage, where: str) -> list[Item]:
    if message.audio is not None or message.function_call is not None:
        name = "audio" if message.audio is not None else "function_call"
        raise UnsupportedParameter(
            f"An assistant message's '{name}' is not supported.", param=f"{where}.{name}"
        )
    items: list[Item] = []
    parts: list[dict[str, Any]] = []
    if isinstance(message.content, str) and message.content:
        parts.append({"type": "output_text", "text": message.content, "annotations": []})
    elif isinstance(message.content, list):
        for part in message.content:
            if isinstance(part, RefusalPart):
                parts.append({"type": "refusal", "refusal": part.refusal})
            elif part.text:
                parts.append({"type": "output_text", "text": part.text, "annotations": []})
    if message.refusal:
        parts.append({"type": "refusal", "refusal": message.refusal})
    if parts:
        items.append(_message("assistant", parts))
    for call in message.tool_calls or ():
        items.append(
            {
                "type": "function_call",
                "call_id": call.id,
                "name": call.function.name,
                "arguments": call.function.arguments,
            }
        )
    if not items:
        raise InvalidRequest(
            "An assistant message needs 'content', 'refusal' or 'tool_calls'.", param=where
        )
    return items


def _refuse_unsupported(params: ChatCompletionCreateParams) -> None:
    for name, why in _NOT_RUN.items():
        value = getattr(params, name)
        if value is not None and value is not False:
            raise UnsupportedParameter(why, param=name)
    if params.n not in (None, 1):
        raise UnsupportedParameter("Only one choice ('n': 1) is supported.", param="n")
    if params.modalities not in (None, ["text"]):
        raise UnsupportedParameter("Only text output is supported.", param="modalities")
    if isinstance(params.tool_choice, NamedToolChoice) and params.tool_choice.function.name not in {
        t.function.name for t in params.tools or ()
    }:
        raise InvalidRequest(
            f"Tool choice '{params.tool_choice.function.name}' not found in 'tools'.",
            param="tool_choice",
        )


def _text_format(params: ChatCompletionCreateParams) -> dict[str, Any] | None:
    given = params.response_format
    if given is None or given.type == "text":
        return None
    if isinstance(given, JsonSchemaFormat):
        schema = given.json_schema
        text_format: dict[str, Any] = {
            "type": "json_schema",
            "name": schema.name,
            "schema": schema.schema_ or {},
        }
        if schema.description is not None:
            text_format["description"] = schema.description
        if schema.strict is not None:
            text_format["strict"] = schema.strict
        return text_format
    return {"type": "json_object"}


def _head(chat: PreparedChat, kind: str) -> dict[str, Any]:
    return {
        "id": chat.id,
        "object": kind,
        "created": chat.created,
        "model": chat.model,
        "service_tier": "default",
    }


def _chunk(
    head: dict[str, Any], delta: dict[str, Any], finish: str | None, usage: dict[str, Any]
) -> Chunk:
    choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
    return {**head, "choices": [choice], **usage}
