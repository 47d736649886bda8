"""`POST /v1/chat/completions` request body, as OpenAI documents it.

Every documented parameter is known here, so an unknown one is a clear 400 and a known one that
Threadline does not run is refused by name in the engine, never silently dropped.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from threadline.protocol.content import Flag, WireModel


class TextPart(WireModel):
    type: Literal["text"]
    text: str


class ImageUrl(WireModel):
    url: str
    detail: Literal["low", "high", "auto"] | None = None


class ImagePart(WireModel):
    type: Literal["image_url"]
    image_url: ImageUrl


class FileRef(WireModel):
    file_id: str | None = None
    file_data: str | None = None
    filename: str | None = None


class FilePart(WireModel):
    type: Literal["file"]
    file: FileRef


class AudioPart(WireModel):
    type: Literal["input_audio"]
    input_audio: dict[str, Any]


class RefusalPart(WireModel):
    type: Literal["refusal"]
    refusal: str


UserPart = Annotated[TextPart | ImagePart | FilePart | AudioPart, Field(discriminator="type")]
AssistantPart = Annotated[TextPart | RefusalPart, Field(discriminator="type")]


class SystemMessage(WireModel):
    role: Literal["system", "developer"]
    content: str | list[TextPart]
    name: str | None = None


class UserMessage(WireModel):
    role: Literal["user"]
    content: str | list[UserPart]
    name: str | None = None


class FunctionCall(WireModel):
    name: str
    arguments: str


class ToolCall(WireModel):
    id: str = Field(min_length=1)
    type: Literal["function"] = "function"
    function: FunctionCall


class AssistantMessage(WireModel):
    role: Literal["assistant"]
    content: str | list[AssistantPart] | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None
    name: str | None = None
    annotations: list[dict[str, Any]] | None = None
    """What a completion's message carries (citations), sent back with it by SDK clients that
    append the message they got; it is not part of the model's context."""
    audio: dict[str, Any] | None = None
    function_call: dict[str, Any] | None = None


class ToolMessage(WireModel):
    role: Literal["tool"]
    tool_call_id: str = Field(min_length=1)
    content: str | list[TextPart]


class FunctionMessage(WireModel):
    role: Literal["function"]
    name: str
    content: str | None = None


ChatMessage = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage,
    Field(discriminator="role"),
]


class FunctionDefinition(WireModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: Flag | None = None


class FunctionTool(WireModel):
    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(WireModel):
    name: str


class NamedToolChoice(WireModel):
    type: Literal["function"]
    function: NamedFunction


class JsonSchema(WireModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    description: str | None = None
    strict: Flag | None = None

    model_config = {"extra": "forbid", "populate_by_name": True}


class JsonSchemaFormat(WireModel):
    type: Literal["json_schema"]
    json_schema: JsonSchema


class PlainFormat(WireModel):
    type: Literal["text", "json_object"]


ResponseFormat = Annotated[JsonSchemaFormat | PlainFormat, Field(discriminator="type")]


class ChatStreamOptions(WireModel):
    include_usage: Flag | None = None
    include_obfuscation: Flag | None = None


class ChatCompletionCreateParams(WireModel):
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: Flag | None = False
    stream_options: ChatStreamOptions | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: Flag | None = None
    response_format: ResponseFormat | None = None
    temperature: float | None = Field(default=None, strict=True, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, strict=True, ge=0.0, le=1.0)
    presence_penalty: float | None = Field(default=None, strict=True, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(default=None, strict=True, ge=-2.0, le=2.0)
    max_tokens: int | None = Field(default=None, strict=True, ge=1)
    max_completion_tokens: int | None = Field(default=None, strict=True, ge=1)
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, strict=True, ge=1, le=128)
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    user: str | None = None
    safety_identifier: str | None = Field(default=None, max_length=128)
    prompt_cache_key: str | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    metadata: dict[str, str] | None = None
    store: Flag | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    modalities: list[Literal["text", "audio"]] | None = None
    # Known to OpenAI, not run by Threadline: accepted by the parser so the engine can refuse
    # them by name.
    logprobs: Flag | None = None
    top_logprobs: int | None = Field(default=None, strict=True)
    logit_bias: dict[str, int] | None = None
    seed: int | None = Field(default=None, strict=True)
    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class StoredCompletionsQuery(WireModel):
    """`GET /v1/chat/completions`. Extra keys are the `metadata[key]=value` filters; the route
    refuses any other."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    after: str | None = None
    limit: int = Field(default=20, ge=1, le=100)
    order: Literal["asc", "desc"] = "asc"


class StoredMessagesQuery(WireModel):
    """`GET /v1/chat/completions/{id}/messages`."""

    after: str | None = None
    limit: int = Field(default=20, ge=1, le=100)
    order: Literal["asc", "desc"] = "asc"


class StoredCompletionUpdate(WireModel):
    """`POST /v1/chat/completions/{id}`: the new metadata (null clears it)."""

    metadata: dict[str, str] | None
