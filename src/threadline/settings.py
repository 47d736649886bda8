"""Threadline's settings: one object, built once by the composition root and passed down.

Sources, later ones winning: defaults, the config file (TOML or YAML, `THREADLINE_CONFIG` or
`--config`), environment variables (`THREADLINE_*`, plus `OPENAI_API_KEY` / `OPENAI_BASE_URL`
for the default provider), then command-line options.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"


def default_database_path() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "threadline" / "threadline.db"


class ProviderSettings(BaseModel):
    """One OpenAI-compatible Chat Completions endpoint."""

    base_url: str = DEFAULT_OPENAI_BASE_URL
    api_key: SecretStr | None = None
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
    headers: dict[str, str] = Field(default_factory=dict)

    model_config = {"extra": "forbid"}

    def resolved_api_key(self) -> str | None:
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env:
            return os.environ.get(self.api_key_env)
        return None


class Settings(BaseSettings):
    """Every setting, with its environment variable `THREADLINE_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="THREADLINE_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{default_database_path()}",
        description="sqlite:///PATH (default: the user's data dir), or memory:// for tests.",
    )
    providers: dict[str, ProviderSettings] = Field(
        default_factory=dict,
        description="Named providers; a model `name/model` is routed to provider `name`.",
    )
    default_provider: str | None = Field(
        default=None, description="Provider for model names without a provider prefix."
    )
    upstream_connect_timeout: float = 10.0
    upstream_read_timeout: float = 300.0
    max_request_bytes: int = Field(
        default=32 * 1024 * 1024, description="Larger request bodies get 413."
    )
    conversation_idle_ttl: float | None = Field(
        default=None,
        description="Seconds a conversation may stay unused before it expires; unset: never.",
    )
    response_retention: float | None = Field(
        default=None,
        description="Seconds stored responses are kept (OpenAI keeps 30 days); unset: forever. "
        "Items that belong to a conversation are kept while the conversation exists.",
    )
    sweep_interval: float = Field(
        default=60.0, description="Seconds between retention and idle-expiry sweeps."
    )
    shutdown_grace_seconds: float = Field(
        default=30.0, description="On shutdown, how long running turns may take to finish."
    )
    log_level: str = "info"

    @field_validator("providers", mode="before")
    @classmethod
    def _providers_from_mapping(cls, value: Any) -> Any:
        return value or {}

    def with_environment_provider(self) -> Settings:
        """Add the `openai` provider from OPENAI_API_KEY / OPENAI_BASE_URL, if set and not
        already declared, and make it the default when no other default is chosen."""
        providers = dict(self.providers)
        key = os.environ.get("OPENAI_API_KEY")
        base_url = os.environ.get("OPENAI_BASE_URL")
        if "openai" not in providers and (key or base_url):
            providers["openai"] = ProviderSettings(
                base_url=base_url or DEFAULT_OPENAI_BASE_URL,
                api_key=SecretStr(key) if key else None,
            )
        default = self.default_provider
        if default is None and len(providers) == 1:
            default = next(iter(providers))
        elif default is None and "openai" in providers:
            default = "openai"
        return self.model_copy(update={"providers": providers, "default_provider": default})


def load_config_file(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    data: Any = yaml.safe_load(text) if path.suffix in {".yaml", ".yml"} else tomllib.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the config file must hold a table of settings")
    return data


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from the config file, the environment, then explicit overrides."""
    config = config or (Path(p) if (p := os.environ.get("THREADLINE_CONFIG")) else None)
    file_values = load_config_file(config) if config else {}
    # Environment variables beat the file: let pydantic-settings read them, then lay the file
    # underneath only for keys the environment did not set.
    from_env = Settings()
    env_set = {name for name in Settings.model_fields if f"THREADLINE_{name.upper()}" in os.environ}
    merged: dict[str, Any] = {k: v for k, v in file_values.items() if k not in env_set}
    merged.update({name: getattr(from_env, name) for name in env_set})
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**merged).with_environment_provider()
