"""`POST /v1/responses` request body, and the query of its list endpoints."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from threadline.protocol.content import Flag, WireModel
from threadline.protocol.items import InputItem
from threadline.protocol.tools import Tool, ToolChoice

Metadata = dict[str, str]

Includable = Literal[
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
]


class JsonSchemaFormat(WireModel):
    type: Literal["json_schema"]
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: Flag | None = None

    model_config = {"extra": "forbid", "populate_by_name": True}


class TextFormat(WireModel):
    type: Literal["text", "json_object"]


class TextConfig(WireModel):
    format: JsonSchemaFormat | TextFormat = Field(
        default_factory=lambda: TextFormat(type="text"), discriminator="type"
    )
    verbosity: Literal["low", "medium", "high"] | None = None


class ReasoningConfig(WireModel):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None
    mode: str | None = None
    context: Literal["auto", "current_turn", "all_turns"] | None = None


class ConversationRef(WireModel):
    id: str


class StreamOptions(WireModel):
    include_obfuscation: Flag | None = None


class ContextManagement(WireModel):
    type: Literal["compaction"]
    compact_threshold: int | None = Field(default=None, strict=True, ge=1000)
    """Context tokens above which the turn compacts first; None: 80% of the model's window."""


class ResponseCreateParams(WireModel):
    """Every parameter OpenAI documents is known here, so an unknown one is a clear 400 and a
    known-but-unsupported one is refused by name in the engine, never silently dropped."""

    model: str = Field(min_length=1)
    input: str | list[InputItem] | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    conversation: str | ConversationRef | None = None
    store: Flag | None = True
    stream: Flag | None = False
    stream_options: StreamOptions | None = None
    background: Flag | None = None
    include: list[Includable] | None = None
    max_output_tokens: int | None = Field(default=None, strict=True, ge=16)
    max_tool_calls: int | None = Field(default=None, strict=True, ge=1)
    metadata: Metadata | None = None
    parallel_tool_calls: Flag | None = True
    temperature: float | None = Field(default=None, strict=True, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, strict=True, ge=0.0, le=1.0)
    top_logprobs: int | None = Field(default=None, strict=True, ge=0, le=20)
    presence_penalty: float | None = Field(default=None, strict=True, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(default=None, strict=True, ge=-2.0, le=2.0)
    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    truncation: Literal["auto", "disabled"] | None = None
    user: str | None = None
    safety_identifier: str | None = Field(default=None, max_length=128)
    prompt_cache_key: str | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    service_tier: (
        Literal["auto", "default", "flex", "scale", "priority", "fast", "ultrafast"] | None
    ) = None
    context_management: list[ContextManagement] | None = Field(default=None, min_length=1)
    # Known to OpenAI, not run by Threadline yet: accepted by the parser so the engine can
    # refuse them by name.
    prompt: dict[str, Any] | None = None
    moderation: dict[str, Any] | None = None
    background_options: dict[str, Any] | None = None
    prompt_cache_options: dict[str, Any] | None = None
    access_programs: dict[str, Any] | None = None
    image: dict[str, Any] | None = None


class InputTokensParams(WireModel):
    """`POST /v1/responses/input_tokens`: the parts of a create that make its input."""

    model: str = Field(min_length=1)
    input: str | list[InputItem] | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    conversation: str | ConversationRef | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: Flag | None = True
    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    truncation: Literal["auto", "disabled"] | None = None
    personality: str | None = Field(default=None, max_length=64)
    """Accepted; it changes nothing here (no model of ours takes it)."""

    def as_create(self) -> ResponseCreateParams:
        """The create these parts stand for (never stored: nothing is created)."""
        given = self.model_dump(exclude_unset=True, exclude={"personality"}, by_alias=True)
        return ResponseCreateParams.model_validate(given)


class CompactParams(WireModel):
    """`POST /v1/responses/compact`."""

    model: str = Field(min_length=1)
    input: str | list[InputItem] | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    prompt_cache_key: str | None = Field(default=None, max_length=64)
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    prompt_cache_options: dict[str, Any] | None = None
    service_tier: Literal["auto", "default", "flex", "priority", "fast"] | None = None
    image: dict[str, Any] | None = None

    def as_create(self) -> ResponseCreateParams:
        """The create whose context is compacted (the cache and tier settings change
        nothing here)."""
        given = self.model_dump(
            exclude_unset=True,
            include={"model", "input", "instructions", "previous_response_id", "prompt_cache_key"},
            by_alias=True,
        )
        return ResponseCreateParams.model_validate(given)


class ListQuery(WireModel):
    after: str | None = None
    limit: int = Field(default=20, ge=1, le=100)
    order: Literal["asc", "desc"] = "desc"
    include: list[Includable] | None = None
