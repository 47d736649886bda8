"""Threadline's settings: one object, built once by the composition root and passed down.

This module declares them (names, types, defaults, descriptions: docs/configuration.md is
generated from it); settings_loading.py reads them from the config file, the environment and
command-line options, and turns what cannot be used into one line an operator can act on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from threadline.provider_settings import (
    DEFAULT_OPENAI_BASE_URL,
    AliasSettings,
    DeploymentSettings,
    ModelLimitSettings,
    ModelPriceSettings,
    ProviderSettings,
)
from threadline.storage.encryption import ContentCodec, KeyRing, content_codec

__all__ = [
    "DEFAULT_OPENAI_BASE_URL",
    "AliasSettings",
    "DeploymentSettings",
    "ModelLimitSettings",
    "ProviderSettings",
    "Settings",
    "default_database_path",
]

MIN_ADMIN_KEY_CHARS = 24


def default_database_path() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "threadline" / "threadline.db"


class Settings(BaseSettings):
    """Every setting, with its environment variable `THREADLINE_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="THREADLINE_", extra="forbid")

    host: str = Field(
        default="127.0.0.1",
        description="Address the server listens on; 0.0.0.0 for every interface.",
    )
    port: int = Field(default=8080, description="Port the server listens on.")
    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{default_database_path()}",
        description="sqlite:///PATH (default: the user's data dir), "
        "postgresql://USER:PASSWORD@HOST:PORT/DATABASE, or memory:// for tests.",
    )
    database_pool_size: int = Field(
        default=10,
        ge=1,
        description="PostgreSQL connections each process keeps open. Keep pool size plus "
        "overflow, times processes (replicas x workers), under the server's max_connections.",
    )
    database_max_overflow: int = Field(
        default=0,
        ge=0,
        description="Extra PostgreSQL connections a process may open under load, each closed "
        "when returned: under steady load they are opened and closed again and again, which "
        "costs more than waiting for a pooled one (docs/deployment.md).",
    )
    context_cache_mb: int = Field(
        default=32,
        ge=0,
        description="Size, in MiB of stored JSON, of the recent chain and conversation contexts "
        "a SQL store keeps per process, so a long history is not read and parsed again on every "
        "turn; parsed, they take up to about 4.5 times that in memory. 0 turns it off. Checked "
        "against the database on each turn (docs/storage.md). The same bound applies to what "
        "each provider adapter and the file resolver keep of their passes over those histories "
        "(src/threadline/prefix_memo.py).",
    )
    providers: dict[str, ProviderSettings] = Field(
        default_factory=dict,
        description="Named providers; a model `name/model` is routed to provider `name`.",
    )
    default_provider: str | None = Field(
        default=None, description="Provider for model names without a provider prefix."
    )
    aliases: dict[str, str | AliasSettings] = Field(
        default_factory=dict,
        description="Model names of Threadline's own: each served by a `provider/model`, or "
        "by deployments with fallback, load balancing and cooldown (docs/providers.md).",
    )
    upstream_connect_timeout: float = Field(
        default=10.0, description="Seconds to wait for a connection to a provider."
    )
    upstream_max_connections: int | None = Field(
        default=None,
        ge=1,
        description="Connections this process keeps open to one provider at most: one per model "
        "call in flight (HTTP/1.1), so it bounds the concurrent calls to that provider; a call "
        "beyond it waits for one to end. Unset: as `max_connections`'s default (half the "
        "open-file limit, less 256).",
    )
    upstream_read_timeout: float = Field(
        default=300.0,
        description="Seconds to wait for each piece of an upstream answer; a stream that "
        "stalls longer ends the response as failed (504 when not streaming).",
    )
    upstream_max_retries: int = Field(
        default=2,
        description="Retries of an upstream request that failed with 408/409/429/5xx or could "
        "not connect, only before its first token (never after output reached the client).",
    )
    upstream_retry_backoff: float = Field(
        default=0.5,
        description="First retry wait in seconds (doubling, with jitter); an "
        "upstream Retry-After header takes precedence (capped at 20 s).",
    )
    max_request_bytes: int = Field(
        default=32 * 1024 * 1024, description="Larger request bodies get 413."
    )
    conversation_idle_ttl: float | None = Field(
        default=None,
        description="Seconds a conversation may stay unused before it expires; unset: never.",
    )
    turn_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A running turn holds a lease on its response and its conversation, "
        "renewed while it runs. A turn whose process died is ended `failed` "
        "(`server_interrupted`) once its lease lapses, and its conversation takes turns again.",
    )
    background_concurrency: int = Field(
        default=64,
        ge=0,
        description="Background responses this process runs at once; more wait in the queue "
        "(any process sharing the database may take them). A running job mostly waits on its "
        "provider, so this bounds the model calls in flight from the queue, not CPU; lower it "
        "to stay under a provider's concurrency limit. 0: this process only queues them, and "
        "other processes sharing the database run them (API-only replicas beside workers).",
    )
    background_queue_limit: int = Field(
        default=10_000,
        ge=1,
        description="Background responses that may wait in the queue (all processes); a "
        "create beyond it gets 429 `background_queue_full`.",
    )
    background_tenant_queue_limit: int = Field(
        default=1_000,
        ge=1,
        description="Background responses one tenant may have waiting (all processes), so one "
        "tenant cannot fill the queue for every other; beyond it, 429 `background_queue_full`.",
    )
    background_poll_interval: float = Field(
        default=0.5,
        gt=0,
        description="Seconds between looks at the queue for background responses queued by "
        "another process (one queued here is taken at once), and for cancellations asked of "
        "another process.",
    )
    compaction_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Fernet keys that seal the `encrypted_content` of compaction items and of "
        "reasoning items (a provider's sealed reasoning, bound to the caller), "
        "comma-separated: the first seals, each opens (rotate by putting a new key first). "
        "`threadline webhooks key` prints a new key. Unset: the file compaction.key in the "
        "data directory, made on first use. Replicas need the same keys.",
    )
    webhook_key: SecretStr | None = Field(
        default=None,
        description="Fernet key that seals webhook signing secrets in the database (`threadline "
        "webhooks key` makes one); unset: the file webhook.key in the data directory, made on "
        "first use. Replicas sharing a database need the same key.",
    )
    webhook_max_attempts: int = Field(
        default=8,
        ge=1,
        description="Attempts at delivering one webhook event before it is marked failed.",
    )
    webhook_retry_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Wait after a webhook delivery's first failed attempt; each next wait is "
        "4 times longer, at most an hour (8 attempts: about 2.4 hours in all).",
    )
    webhook_timeout: float = Field(
        default=10.0, gt=0, description="Seconds one webhook delivery attempt may take."
    )
    default_store: bool = Field(
        default=True,
        description="What an omitted `store` means on `POST /v1/responses`: true stores the "
        "response, as OpenAI does; false stores nothing unless the request sends "
        "`store: true`, as the OpenResponses server does (a turn in a `conversation` or in "
        "the background then needs `store: true`). Per tenant: `tenant_default_store`; per API "
        "key: `threadline keys create NAME --no-default-store`.",
    )
    tenant_default_store: dict[str, bool] = Field(
        default_factory=dict,
        description="Per-tenant overrides of `default_store`, e.g. "
        '`{"acme": false}` (JSON in the environment variable).',
    )
    response_retention: float | None = Field(
        default=None,
        description="Seconds stored responses and stored chat completions are kept (OpenAI "
        "keeps 30 days); unset: forever. Items that belong to a conversation are kept while "
        "the conversation exists.",
    )
    tenant_response_retention: dict[str, float | None] = Field(
        default_factory=dict,
        description="Per-tenant overrides of `response_retention`, in seconds, e.g. "
        '`{"acme": 86400, "archive": null}` (null: keep forever; JSON in the environment '
        "variable).",
    )
    model_prices: dict[str, ModelPriceSettings] = Field(
        default_factory=dict,
        description="Prices of models in US dollars per million tokens, for the usage ledger "
        'and key budgets, e.g. `{"my-llama": {"input": 0.2, "output": 0.6}}` '
        "(`cached_input` too; JSON in the environment variable). Added to and overriding the "
        "built-in list prices of well-known OpenAI and Anthropic models; any other model costs "
        "0.",
    )
    usage_end_user_metadata_key: str | None = Field(
        default=None,
        description="A `metadata` key whose value names the end user in the usage ledger when "
        "a request sends neither `safety_identifier` nor `user`.",
    )
    usage_flush_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Seconds between writes of the usage ledger (rows are batched; a process "
        "killed without a shutdown loses at most this much of the ledger, never a turn).",
    )
    export_tombstone_retention: float = Field(
        default=30 * 86400.0,
        gt=0,
        description="Seconds the change feed keeps a deleted object's tombstone, so that an "
        "incremental export (`threadline export`, `GET /v1/threadline/export`) tells a mirror "
        "what was deleted. A cursor older than this is refused: export again from the start.",
    )
    sweep_interval: float = Field(
        default=60.0, description="Seconds between retention and idle-expiry sweeps."
    )
    shutdown_grace_seconds: float = Field(
        default=30.0, description="On shutdown, how long running turns may take to finish."
    )
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        default="info", description="Server log level: debug, info, warning, error or critical."
    )
    # -- connection limits and /metrics (docs/deployment.md) -------------------------------------
    max_connections: int | None = Field(
        default=None,
        ge=1,
        description="Client connections one process of `threadline serve` holds at once; a "
        "request on one more is answered 503 `server_overloaded` and its connection closed. "
        "Unset: half the open-file limit (which `serve` raises to the hard limit) less 256, "
        "since a stream holds a connection to its provider too and the database needs files.",
    )
    max_header_bytes: int = Field(
        default=32 * 1024,
        ge=1024,
        description="Largest request line plus headers, in bytes; larger get 431 and the "
        "connection is closed (the Authorization header alone: 1 KiB).",
    )
    max_header_count: int = Field(
        default=100, ge=10, description="Most headers a request may have; more get 431."
    )
    request_header_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a client has to send a request's line and headers, from "
        "connecting or from the end of the previous response; slower ones get 408 and are "
        "disconnected.",
    )
    request_body_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a request's body may take to arrive in full, after its headers; "
        "slower ones get 408 and are disconnected.",
    )
    keep_alive_timeout: int = Field(
        default=5,
        ge=1,
        description="Seconds an idle keep-alive connection stays open between requests.",
    )
    bring_your_own_key: bool = Field(
        default=False,
        description="Bring-your-own-key mode: every request's `Authorization: Bearer <key>` is "
        "the caller's own key for the model provider, sent upstream in place of the provider's "
        "`api_key`, and the caller's tenant is derived from it (a SHA-256 digest), so each key "
        "sees only its own data. The key is never stored or logged; Threadline's own API keys "
        "are not used, and background responses are refused (a key cannot wait in the queue).",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, GET /metrics requires `Authorization: Bearer <metrics_token>`; "
        "unset: /metrics is open to whoever reaches the port.",
    )
    admin_key: SecretStr | None = Field(
        default=None,
        description="The operator's key for the console at /console (docs/console.md): signing "
        "in with it shows every tenant's conversations, usage, keys and audit log. At least 24 "
        "characters; unset, the console is off (its pages say how to turn it on). Not an API "
        "key: it opens no /v1 endpoint.",
    )
    audit_reads: bool = Field(
        default=False,
        description="Record in the audit log every read of stored content through the API "
        "(a response, its input items, a conversation's items, a stored chat completion and "
        "its messages, a file's bytes, a search), with the key that read it. Off by default: "
        "one more database write per read.",
    )
    encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Keys that encrypt stored message content at rest (docs/encryption.md): "
        "`id:base64key` entries, comma-separated; the first encrypts, each decrypts what was "
        "encrypted under it (rotate by putting a new key first, then `threadline db "
        "reencrypt`). `threadline db encryption-key` makes one. Unset (and no "
        "encryption_key_file): content is stored as plain JSON. Replicas need the same keys.",
    )
    encryption_key_file: Path | None = Field(
        default=None,
        description="A file holding the encryption keys instead, one `id:base64key` per line, "
        "the encrypting key first (keeps them out of the environment and the config file).",
    )
    console_session_hours: float = Field(
        default=12.0,
        gt=0,
        le=24 * 30,
        description="How long a console sign-in lasts before the operator signs in again.",
    )
    # -- files and server-side tools (docs/tools.md) --------------------------------------------
    data_dir: Path = Field(
        default_factory=lambda: default_database_path().parent,
        description="Directory for uploaded files (`<data_dir>/files/<tenant>/`); default: the "
        "user's data dir.",
    )
    vector_store_embedding_model: str = Field(
        default="text-embedding-3-small",
        min_length=1,
        description="The embedding model (or alias) new vector stores embed their chunks and "
        "queries with, through the provider that serves it. A store keeps the model it was "
        "created with.",
    )
    ingestion_concurrency: int = Field(
        default=2,
        ge=1,
        description="Vector store files this process ingests at once (extract, chunk, embed); "
        "any process sharing the database may take the others.",
    )
    ingestion_lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a file being ingested stays this process's without a renewal; a "
        "process that died leaves its files to others once the lease lapses.",
    )
    max_file_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=1,
        description="Largest file accepted by POST /v1/files or fetched from a file_url "
        "(uploads are also bound by max_request_bytes).",
    )
    mcp_connect_timeout: float = Field(
        default=10.0, description="Seconds to wait for a connection to a remote MCP server."
    )
    mcp_call_timeout: float = Field(
        default=60.0,
        description="Seconds an MCP tool listing or call may take; a slower one becomes an "
        "mcp_call error that the model is told about.",
    )
    mcp_max_sessions: int = Field(
        default=64,
        ge=0,
        description="MCP sessions (Streamable HTTP) kept open for reuse, each for one server, "
        "tenant and set of credentials; 0 opens a connection per listing or call.",
    )
    mcp_session_idle_seconds: float = Field(
        default=60.0,
        gt=0,
        description="An MCP session kept open is closed after this many idle seconds.",
    )
    max_tool_iterations: int = Field(
        default=8,
        ge=2,
        description="Model calls one response may make while it runs server-side tools (MCP, "
        "web search); the last one is made without tools, so the model answers.",
    )
    web_search_backend: Literal["searxng", "tavily", "brave"] | None = Field(
        default=None,
        description="Search backend of the web_search tool; unset: web_search is refused "
        "with a 400 that says how to configure one.",
    )
    web_search_url: str | None = Field(
        default=None,
        description="SearXNG: the instance's base URL (JSON output enabled). Tavily, Brave: "
        "optional API base URL override.",
    )
    web_search_api_key: SecretStr | None = Field(
        default=None, description="API key of the hosted search backend (Tavily, Brave)."
    )
    web_search_timeout: float = Field(default=15.0, description="Seconds a web search may take.")
    outbound_allow_private: bool = Field(
        default=False,
        description="Let API callers make the server reach loopback, private and link-local "
        "addresses (MCP server_url, file_url). Off: such URLs are refused.",
    )
    outbound_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names or addresses API callers may make the server reach even when "
        "private (comma-separated in the environment).",
    )
    # -- file_url downloads (docs/tools.md#files-in-input) -----------------------------------------
    outbound_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds the file_url downloads of one request may take in all, however "
        "slowly a server sends (also the wait for each piece).",
    )
    file_url_max_parts: int = Field(
        default=8,
        ge=0,
        description="file_url parts one request may give the model, history included; more in "
        "its input is a 400 (the history's oldest become notes to the model).",
    )
    file_url_max_request_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=0,
        description="Bytes the file_url parts of one request may fetch in all; a download that "
        "goes over is cut at once and is a 400.",
    )
    file_url_cache_mb: int = Field(
        default=64,
        ge=0,
        description="MiB of file_url downloads kept per process (per tenant, least recently "
        "used out first), so an unchanged file is revalidated (ETag / Last-Modified), not "
        "downloaded again, on later turns. 0 turns it off.",
    )

    @field_validator("compaction_keys", "encryption_keys", "outbound_allowed_hosts", mode="before")
    @classmethod
    def _list_from_text(cls, value: Any) -> Any:
        """A list given as text (an environment variable) is comma-separated."""
        if isinstance(value, str):
            return [entry.strip() for entry in value.split(",") if entry.strip()]
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _encryption_keys_readable(cls, value: list[SecretStr]) -> list[SecretStr]:
        if value:
            KeyRing.parse(key.get_secret_value() for key in value)  # its messages hold no key
        return value

    @field_validator("encryption_key_file")
    @classmethod
    def _encryption_key_file_usable(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None:  # unreadable, or keys given twice: say so at start-up
            keys = info.data.get("encryption_keys") or []
            content_codec([key.get_secret_value() for key in keys], value)
        return value

    @field_validator("admin_key")
    @classmethod
    def _admin_key_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_ADMIN_KEY_CHARS:
            raise ValueError(
                f"admin_key must be at least {MIN_ADMIN_KEY_CHARS} characters "
                "(`python -c 'import secrets; print(secrets.token_urlsafe(32))'` makes one)"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level_as_logging_spells_it(cls, value: Any) -> Any:
        # Any case, and `warn` as the logging module and most tools accept it.
        if isinstance(value, str):
            value = value.strip().lower()
            return "warning" if value == "warn" else value
        return value

    @field_validator("providers", mode="before")
    @classmethod
    def _providers_from_mapping(cls, value: Any) -> Any:
        return value or {}

    def content_codec(self) -> ContentCodec:
        """How the store keeps content: sealed under the encryption keys, if any are set.
        Raises ValueError (naming no key) for a key file that cannot be used."""
        keys = [key.get_secret_value() for key in self.encryption_keys]
        return content_codec(keys, self.encryption_key_file)

    def with_environment_provider(self) -> Settings:
        """Add the implicit `openai` provider from OPENAI_API_KEY / OPENAI_BASE_URL when no
        providers are declared (declared ones win: docs/providers.md), and choose the default
        provider when none is set: the only one, else `openai` if declared."""
        providers = dict(self.providers)
        key = os.environ.get("OPENAI_API_KEY")
        base_url = os.environ.get("OPENAI_BASE_URL")
        if not providers and (key or base_url):
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
