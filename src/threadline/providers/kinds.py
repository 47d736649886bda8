"""Provider kinds: which adapter speaks to an upstream, by the API it speaks.

Adding a kind is its adapter module and one line in `KINDS`. Each factory builds the adapter
from a `ProviderConfig` (what the operator declared, resolved by `wiring.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from threadline.prefix_memo import DEFAULT_MAX_BYTES
from threadline.providers.anthropic import AnthropicProvider
from threadline.providers.base import ModelProvider, ProviderCapabilities
from threadline.providers.http_upstream import DEFAULT_MAX_CONNECTIONS
from threadline.providers.model_limits import ModelLimits
from threadline.providers.openai_chat import OpenAIChatProvider
from threadline.providers.openai_responses import OpenAIResponsesProvider
from threadline.providers.retry import RetryPolicy

DEFAULT_KIND = "openai-chat"


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    name: str
    base_url: str
    api_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    native_files: bool | None = None
    """None: the kind's default."""
    send_reasoning: bool | None = None
    max_tokens_param: str | None = None
    max_output_tokens: int | None = None
    model_limits: dict[str, ModelLimits] = field(default_factory=dict)
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    history_memo_bytes: int = DEFAULT_MAX_BYTES
    """Bound of what an adapter keeps of a long history's translation (prefix_memo.py)."""


def _openai_chat(config: ProviderConfig) -> ModelProvider:
    return OpenAIChatProvider(
        config.name,
        config.base_url,
        api_key=config.api_key,
        headers=config.headers,
        max_tokens_param=config.max_tokens_param,
        send_reasoning=config.send_reasoning,
        models=config.models,
        capabilities=ProviderCapabilities(
            native_files=_openai_reads_files(config), model_limits=config.model_limits
        ),
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        max_connections=config.max_connections,
        retry=config.retry,
        history_memo_bytes=config.history_memo_bytes,
    )


def _openai_responses(config: ProviderConfig) -> ModelProvider:
    return OpenAIResponsesProvider(
        config.name,
        config.base_url,
        api_key=config.api_key,
        headers=config.headers,
        models=config.models,
        capabilities=ProviderCapabilities(
            native_files=_openai_reads_files(config),
            stop_sequences=False,
            model_limits=config.model_limits,
        ),
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        max_connections=config.max_connections,
        retry=config.retry,
        history_memo_bytes=config.history_memo_bytes,
    )


def _anthropic(config: ProviderConfig) -> ModelProvider:
    return AnthropicProvider(
        config.name,
        config.base_url,
        api_key=config.api_key,
        headers=config.headers,
        models=config.models,
        # Anthropic's models read PDFs and text documents themselves.
        capabilities=ProviderCapabilities(
            native_files=True if config.native_files is None else config.native_files,
            model_limits=config.model_limits,
        ),
        default_max_tokens=config.max_output_tokens or 8192,
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        max_connections=config.max_connections,
        retry=config.retry,
        history_memo_bytes=config.history_memo_bytes,
    )


def _openai_reads_files(config: ProviderConfig) -> bool:
    """As declared, else only OpenAI's own API (other compatible servers mostly do not)."""
    if config.native_files is not None:
        return config.native_files
    return urlsplit(config.base_url).hostname == "api.openai.com"


KINDS: dict[str, Callable[[ProviderConfig], ModelProvider]] = {
    "openai-chat": _openai_chat,
    "openai-responses": _openai_responses,
    "anthropic": _anthropic,
}
"""Kind name (a provider's `kind` setting) → the factory of its adapter."""


def build_provider(kind: str, config: ProviderConfig) -> ModelProvider:
    return KINDS[kind](config)
