"""The settings of one upstream model API (`providers` in the config file) and of a model alias
(`aliases`); settings.py holds the rest and re-exports these."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
_DEFAULT_BASE_URLS = {"anthropic": "https://api.anthropic.com/v1"}
"""A kind's own base URL, where it is not OpenAI's."""


class ModelLimitSettings(BaseModel):
    """A model's context window and largest answer, in tokens."""

    context_window: int = Field(ge=1, description="Tokens the model takes in, answer included.")
    max_output_tokens: int = Field(ge=1, description="Tokens of the longest answer it gives.")

    model_config = {"extra": "forbid"}


class ModelPriceSettings(BaseModel):
    """A model's price in US dollars per million tokens (`model_prices`)."""

    input: float = Field(ge=0)
    output: float = Field(default=0.0, ge=0)
    cached_input: float | None = Field(default=None, ge=0)

    model_config = {"extra": "forbid"}


class ProviderSettings(BaseModel):
    """One upstream model API."""

    kind: str = Field(
        default="openai-chat",
        description="The API the upstream speaks: `openai-chat` (Chat Completions: OpenAI, "
        "Ollama, vLLM, llama.cpp, Groq, OpenRouter…), `openai-responses` (the Responses API "
        "itself: OpenAI, Azure OpenAI, vLLM…) or `anthropic` (Anthropic's Messages API).",
    )
    base_url: str | None = Field(
        default=None,
        description="The API's root, ending in /v1 (Chat Completions is POST "
        "{base_url}/chat/completions). Default: OpenAI's, or Anthropic's for kind anthropic.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="The endpoint's API key, sent as `Authorization: Bearer`; prefer "
        "api_key_env so the key stays out of the file.",
    )
    api_key_env: str | None = Field(
        default=None, description="Read the API key from this environment variable instead."
    )
    max_tokens_param: str | None = Field(
        default=None,
        description="Name of the output cap parameter upstream: `max_completion_tokens` "
        "(OpenAI) or `max_tokens` (most other servers). Default: chosen by base_url.",
    )
    models: list[str] = Field(
        default_factory=list, description="Models listed by GET /v1/models for this provider."
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Extra HTTP headers sent with every upstream request (e.g. OpenRouter's "
        "HTTP-Referer).",
    )
    native_files: bool | None = Field(
        default=None,
        description="Whether the endpoint reads files (PDF…) itself; when false, Threadline "
        "gives the model PDF and text files as text. Default: true for api.openai.com only.",
    )
    max_output_tokens: int | None = Field(
        default=None,
        ge=1,
        description="Output cap sent when a request gives none, for kinds that require one "
        "(anthropic; default 8192).",
    )
    model_limits: dict[str, ModelLimitSettings] = Field(
        default_factory=dict,
        description="Context window and output cap of this provider's models, by model name "
        '(e.g. `{"llama3.1": {"context_window": 131072, "max_output_tokens": 4096}}`); '
        "well-known OpenAI and Anthropic models are known without it. `truncation: auto` "
        "and GET /v1/models use them.",
    )
    send_reasoning: bool | None = Field(
        default=None,
        description="Whether earlier reasoning is sent back to the model, as the "
        "`reasoning_content` of the assistant message it led to (DeepSeek, vLLM…); when "
        "false it is left out of what the model sees. Default: false for api.openai.com, "
        "true for any other endpoint.",
    )

    model_config = {"extra": "forbid"}

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        # Imported here: the adapters (aiohttp…) double the import time of the settings,
        # which every CLI command pays.
        from threadline.providers.kinds import KINDS  # noqa: PLC0415

        if kind not in KINDS:
            raise ValueError(f"unknown provider kind '{kind}'; the kinds are: {', '.join(KINDS)}")
        return kind

    @property
    def endpoint(self) -> str:
        """`base_url`, else the kind's own."""
        return self.base_url or _DEFAULT_BASE_URLS.get(self.kind, DEFAULT_OPENAI_BASE_URL)

    def auth_headers(self) -> dict[str, str]:
        """The configured headers with the key, as the kind's API takes it."""
        headers = dict(self.headers)
        key = self.resolved_api_key()
        if key and self.kind == "anthropic":
            headers |= {"x-api-key": key, "anthropic-version": "2023-06-01"}
        elif key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def resolved_api_key(self) -> str | None:
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env:
            return os.environ.get(self.api_key_env)
        return None


class DeploymentSettings(BaseModel):
    """One place a model alias can be served."""

    model: str = Field(
        min_length=1, description="`provider/model`, or a model of the default provider."
    )
    weight: float = Field(
        default=1.0, gt=0, description="Share of requests, with strategy `balance`."
    )

    model_config = {"extra": "forbid"}


class AliasSettings(BaseModel):
    """A model name of Threadline's own, served by one or more deployments."""

    deployments: list[str | DeploymentSettings] = Field(
        min_length=1,
        description="Where the alias is served: `provider/model` names (or tables with "
        "`model` and `weight`), in order of preference.",
    )
    strategy: Literal["fallback", "balance"] = Field(
        default="fallback",
        description="`fallback`: the first deployment that is not cooling down, then the next "
        "on failure. `balance`: spread requests by weight, then the others on failure.",
    )
    cooldown_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a deployment that failed (429, 5xx, timeout, no connection) "
        "is passed over.",
    )

    model_config = {"extra": "forbid"}

    def deployment_list(self) -> list[DeploymentSettings]:
        return [DeploymentSettings(model=d) if isinstance(d, str) else d for d in self.deployments]
