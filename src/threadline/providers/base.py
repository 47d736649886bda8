"""The provider port: a neutral request in, a stream of neutral events out.

A provider adapter owns everything about its upstream's wire format (message translation,
parameter names, streaming framing, error bodies). The engine only sees these types. Adapters
raise `threadline.errors.UpstreamError` (or `UpstreamTimeout`) for every upstream failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from threadline.providers.model_limits import ModelLimits, known_limits

Item = dict[str, Any]


@dataclass(slots=True, frozen=True)
class ToolChoice:
    """Which tools the model must or may call, in no API's words. `function` names the one
    function it must call."""

    mode: Literal["auto", "none", "required", "function"]
    function: str | None = None

    @staticmethod
    def of(name: str) -> ToolChoice:
        return ToolChoice("function", name)


AUTO = ToolChoice("auto")
NONE = ToolChoice("none")
REQUIRED = ToolChoice("required")


@dataclass(slots=True)
class ProviderRequest:
    model: str
    """The model name as the upstream knows it (provider prefix already removed)."""
    items: list[Item]
    """The whole context as OpenAI items, oldest first (history, then this turn's input)."""
    history_items: int | None = None
    """How many of `items` are the stored history the next turn continues, if known: where
    an adapter may keep what it made of them for that turn (prefix_memo.py)."""
    instructions: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    """Function tools in the Responses shape: {type, name, description, parameters, strict}."""
    tool_choice: ToolChoice | None = None
    """None: the upstream's default (auto)."""
    parallel_tool_calls: bool | None = None
    text_format: dict[str, Any] | None = None
    """The Responses `text.format` object, or None for plain text."""
    temperature: float | None = None
    top_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    max_output_tokens: int | None = None
    reasoning_effort: str | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    stop: list[str] | None = None
    """Sequences that end the answer (Chat Completions' `stop`; the Responses API has none)."""
    incremental: bool = True
    """Whether anyone waits for tokens as they come. When not (a non-streaming client), an
    adapter may ask its upstream for the whole answer at once, which costs less, and yield
    the same events from it."""
    api_key: str | None = field(default=None, repr=False)
    """The caller's own key for the upstream (bring-your-own-key), sent in place of the
    provider's; never stored, never shown."""


@dataclass(slots=True, frozen=True)
class TextDelta:
    text: str


@dataclass(slots=True, frozen=True)
class ReasoningDelta:
    text: str


@dataclass(slots=True, frozen=True)
class ReasoningSealed:
    """The reasoning just streamed is complete, and the provider gave an opaque value to send
    back with it on later turns (a signature, or reasoning it keeps encrypted): it becomes the
    reasoning item's `encrypted_content`. Reasoning that follows starts a new item."""

    encrypted_content: str


@dataclass(slots=True, frozen=True)
class RefusalDelta:
    """The model declined to answer; this is (a piece of) its explanation."""

    text: str


@dataclass(slots=True, frozen=True)
class ToolCallDelta:
    """A piece of a tool call. The first piece of a call carries `call_id` and `name`."""

    index: int
    arguments: str = ""
    call_id: str | None = None
    name: str | None = None


@dataclass(slots=True, frozen=True)
class UsageReport:
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0


FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


@dataclass(slots=True, frozen=True)
class Finish:
    reason: FinishReason


@dataclass(frozen=True, slots=True)
class Served:
    """Which deployment of a model alias answers (`provider/model`): sent by a routed model
    just before that deployment's first event, so a turn can record it."""

    deployment: str


ProviderEvent = (
    Served
    | TextDelta
    | RefusalDelta
    | ReasoningDelta
    | ReasoningSealed
    | ToolCallDelta
    | UsageReport
    | Finish
)


@dataclass(slots=True, frozen=True)
class EmbeddingRequest:
    model: str
    """The model name as the upstream knows it (provider prefix already removed)."""
    inputs: list[str] | list[list[int]]
    """Texts, or texts already split into tokens."""
    dimensions: int | None = None
    user: str | None = None
    api_key: str | None = field(default=None, repr=False)
    """As `ProviderRequest.api_key`."""


@dataclass(slots=True, frozen=True)
class Embeddings:
    vectors: list[list[float]]
    """One vector an input, in input order."""
    input_tokens: int


@dataclass(slots=True, frozen=True)
class ProviderCapabilities:
    """What an upstream can take, as its adapter knows it (from its settings, or its API)."""

    native_files: bool = False
    """It reads files (PDF…) sent inline; otherwise the engine gives it their text."""
    stop_sequences: bool = True
    """It takes `stop` sequences (the Responses API has none)."""
    model_limits: Mapping[str, ModelLimits] = field(default_factory=dict)
    """Context windows and output caps the operator declared, by upstream model name."""

    def limits(self, model: str) -> ModelLimits | None:
        """The model's limits: declared, else known for its family (model_limits.py)."""
        return self.model_limits.get(model) or known_limits(model)


@dataclass(frozen=True, slots=True)
class TokenCount:
    """The input tokens of a request: counted by the upstream (`exact`), or estimated here
    with a tokenizer of the model's family (token_estimate.py)."""

    tokens: int
    exact: bool


class ModelProvider(Protocol):
    name: str

    @property
    def capabilities(self) -> ProviderCapabilities: ...

    def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        """Run the model. Yields events as they arrive; ends after `Finish` (and usage)."""
        ...

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        """Embed the inputs; raises `UnsupportedParameter` when the upstream has no
        embeddings (and `UpstreamError` as `stream` does)."""
        ...

    async def count_input_tokens(self, request: ProviderRequest) -> TokenCount:
        """The input tokens `request` would take: the upstream's own count where it has an
        endpoint for it, else an estimate."""
        ...

    async def list_models(self, api_key: str | None = None) -> list[str]:
        """The models the upstream serves; `api_key` as `ProviderRequest.api_key`."""
        ...

    async def aclose(self) -> None: ...
