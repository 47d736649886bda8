"""What `threadline doctor` checks, each check saying what is wrong and how to fix it.

Nothing here changes anything: the database is inspected, not migrated; providers are asked
for GET /models, the cheapest authenticated call every OpenAI-compatible server has.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import httpx

from threadline.cli.db_inspect import inspect_database
from threadline.settings import ProviderSettings, Settings
from threadline.storage.factory import open_store, sqlite_path, sqlite_write_problem

Level = Literal["ok", "info", "warn", "fail"]
PROBE_TIMEOUT = 5.0


@dataclass(slots=True)
class Check:
    name: str
    level: Level
    detail: str
    fix: str | None = None


async def check_database(settings: Settings) -> list[Check]:
    name = "database"
    file = sqlite_path(settings.database_url)
    problem = sqlite_write_problem(file) if file is not None else None
    if file is not None and problem is not None:
        return [
            Check(
                name,
                "fail",
                f"{file} cannot be {'written' if file.exists() else 'created'}: {problem}",
                "choose a writable place with --db PATH or THREADLINE_DATABASE_URL (in a "
                "container: a volume mounted read-write)",
            )
        ]
    report = await inspect_database(settings.database_url)
    if report.kind == "memory":
        return [Check(name, "warn", "memory:// keeps nothing across restarts", _DB_FIX)]
    if report.error and report.revision is None and report.kind not in ("sqlite", "postgresql"):
        return [Check(name, "fail", report.error, _DB_FIX)]
    if not report.exists:
        return [
            Check(
                name,
                "warn",
                f"{report.path} does not exist yet",
                "it is created when the server starts, or now with `threadline db migrate`",
            )
        ]
    if report.error:
        return [
            Check(
                name,
                "fail",
                f"{report.url} cannot be read: {report.error}",
                "check the path's permissions, or that the database server is up and the "
                "URL's user, password and database are right",
            )
        ]
    checks = [Check(name, "ok", f"{report.url} ({report.kind}) is reachable")]
    if report.revision is None:
        checks.append(Check("schema", "warn", "not migrated yet", "run `threadline db migrate`"))
    elif not report.up_to_date:
        checks.append(
            Check(
                "schema",
                "warn",
                f"at {report.revision}, this version ships {report.head}",
                "run `threadline db migrate` (the server also migrates at start-up)",
            )
        )
    else:
        checks.append(Check("schema", "ok", f"up to date ({report.revision})"))
        checks.append(await _check_keys(settings))
    return checks


_DB_FIX = "set database_url (THREADLINE_DATABASE_URL or --db) to sqlite:///PATH or postgresql://…"


async def _check_keys(settings: Settings) -> Check:
    store = open_store(settings.database_url)
    try:
        required = await store.has_api_keys()
    finally:
        await store.close()
    if required:
        return Check("api keys", "ok", "requests need an API key")
    return Check(
        "api keys",
        "info",
        "no API keys: the server is open, every caller is tenant 'default'",
        "`threadline keys create NAME` makes the server require keys",
    )


def check_encryption(settings: Settings) -> Check:
    """Whether content is encrypted at rest, and under which key (never the key itself)."""
    ring = settings.content_codec().ring
    if ring is None:
        return Check(
            "encryption",
            "info",
            "message content is stored in the clear",
            "to encrypt it at rest, set encryption_keys (`threadline db encryption-key` makes "
            "one) and run `threadline db reencrypt` (docs/encryption.md)",
        )
    held = ", ".join(key.id for key in ring.keys)
    return Check("encryption", "ok", f"new content sealed under '{ring.active.id}' (ring: {held})")


def check_provider_config(settings: Settings) -> list[Check]:
    if not settings.providers:
        return [
            Check(
                "providers",
                "fail",
                "no provider is configured: every turn would fail",
                "set OPENAI_API_KEY (OpenAI), or OPENAI_BASE_URL (Ollama, vLLM, llama.cpp…), "
                "or declare [providers.NAME] in the config file (docs/providers.md)",
            )
        ]
    default = settings.default_provider
    if default is not None and default not in settings.providers:
        return [
            Check(
                "providers",
                "fail",
                f"default_provider '{default}' is not one of: {', '.join(settings.providers)}",
                "set default_provider to a declared provider",
            )
        ]
    if default is None:
        return [
            Check(
                "providers",
                "warn",
                "no default_provider: only `provider/model` names can be used",
                "set default_provider in the config file",
            )
        ]
    return [Check("providers", "ok", f"{len(settings.providers)} configured, default '{default}'")]


def check_background(settings: Settings) -> Check | None:
    """A process that runs no background responses (`background_concurrency = 0`) relies on
    another one sharing its database; None when it runs them itself."""
    if settings.background_concurrency > 0:
        return None
    if settings.database_url == "memory://":
        return Check(
            "background",
            "fail",
            "background_concurrency is 0 and memory:// is shared with no other process: "
            "background responses would wait forever",
            "set background_concurrency above 0, or use a database other processes share",
        )
    return Check(
        "background",
        "warn",
        "background_concurrency is 0: background responses created here wait for another "
        "process sharing this database to run them",
    )


def check_provider_key(name: str, config: ProviderSettings) -> Check | None:
    """A key variable the provider names but the environment lacks; None when all is set."""
    if config.api_key is None and config.api_key_env and not os.environ.get(config.api_key_env):
        return Check(
            f"provider {name}",
            "fail",
            f"api_key_env names {config.api_key_env}, which is not set",
            f"export {config.api_key_env}=<key>, or remove api_key_env for a server without keys",
        )
    return None


async def check_provider(name: str, config: ProviderSettings, settings: Settings) -> Check:
    label = f"provider {name}"
    if (missing_key := check_provider_key(name, config)) is not None:
        return missing_key
    headers = config.auth_headers()
    timeout = httpx.Timeout(PROBE_TIMEOUT, connect=min(settings.upstream_connect_timeout, 5.0))
    url = config.endpoint.rstrip("/") + "/models"
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(url, headers=headers)
    except httpx.TimeoutException:
        return Check(label, "fail", f"{url} did not answer in {PROBE_TIMEOUT:g} s", _REACH_FIX)
    except httpx.HTTPError as exc:
        return Check(label, "fail", f"cannot connect to {config.endpoint}: {exc}", _REACH_FIX)
    status = response.status_code
    if status in (401, 403):
        where = config.api_key_env or ("api_key" if config.api_key else "OPENAI_API_KEY")
        return Check(
            label,
            "fail",
            f"{config.endpoint} refused the credentials (HTTP {status})",
            f"check the key in {where}",
        )
    if status == 404:
        return Check(
            label,
            "warn",
            f"{config.endpoint} is reachable but has no /models (HTTP 404)",
            "check that base_url ends with /v1 (e.g. http://localhost:11434/v1)",
        )
    if status >= 400:
        return Check(label, "warn", f"GET /models answered HTTP {status}", None)
    return _models_check(label, config, response)


_REACH_FIX = (
    "start the model server (e.g. `ollama serve`) or fix base_url (THREADLINE_CONFIG "
    "providers.NAME.base_url, or OPENAI_BASE_URL)"
)


def _models_check(label: str, config: ProviderSettings, response: httpx.Response) -> Check:
    try:
        data = response.json().get("data", [])
        offered = {m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)}
    except (ValueError, AttributeError, TypeError):
        return Check(label, "warn", f"{config.endpoint}/models is not OpenAI's model list")
    missing = [m for m in config.models if m not in offered]
    if missing and offered:
        return Check(
            label,
            "warn",
            f"reachable, but it does not offer {', '.join(missing)}",
            "fix `models` in the config file, or pull the model (e.g. `ollama pull NAME`)",
        )
    return Check(label, "ok", f"{config.endpoint} answers, {len(offered)} models")


async def check_server(settings: Settings) -> Check:
    """Whether a server runs at the configured address (information, not a problem)."""
    url = f"http://{settings.host}:{settings.port}"
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            response = await client.get(f"{url}/readyz")
    except httpx.HTTPError:
        return Check("server", "info", f"not running at {url}", "start it with `threadline serve`")
    if response.status_code == 200:
        return Check("server", "ok", f"running at {url}, database ready")
    return Check(
        "server",
        "fail",
        f"running at {url} but not ready (HTTP {response.status_code})",
        "its database cannot be reached: see the server's log",
    )
