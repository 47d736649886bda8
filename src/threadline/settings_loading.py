"""Reading Threadline's settings (settings.py declares them). Sources, later ones winning:
defaults, the config file (TOML or YAML, `THREADLINE_CONFIG` or `--config`), environment
variables (`THREADLINE_*`, plus `OPENAI_API_KEY` / `OPENAI_BASE_URL` for the implicit provider
when no providers are declared), then command-line options.

Anything that cannot be used raises `ConfigError`, whose message names the file or variable
the bad value came from and says what to do: an operator sees one line, not a traceback.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_settings import SettingsError

from threadline.settings import ProviderSettings, Settings


class ConfigError(ValueError):
    """A setting, or the config file, cannot be used; the message says where and what to do."""


def load_config_file(path: Path) -> dict[str, Any]:
    """The file's settings, checked for syntax and unknown names (not yet for values)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist; check --config or THREADLINE_CONFIG"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read config file {path}: {reason}") from None
    data = _parse_yaml(path, text) if path.suffix in {".yaml", ".yml"} else _parse_toml(path, text)
    if data is None:
        return {}  # an empty YAML file
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a table of settings (name = value)")
    _refuse_unknown_names(data, Settings.model_fields, "setting", f"in {path}")
    for name, provider in (data.get("providers") or {}).items():
        if isinstance(provider, dict):
            where = f"of [providers.{name}] in {path}"
            _refuse_unknown_names(provider, ProviderSettings.model_fields, "key", where)
    return data


def _parse_toml(path: Path, text: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        at = f" (at line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{path} is not valid YAML: {problem}{at}") from None


def _refuse_unknown_names(
    values: Mapping[str, Any], known: Collection[str], kind: str, where: str
) -> None:
    for name in values:
        if name not in known:
            close = difflib.get_close_matches(str(name), list(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown {kind} '{name}' {where}{hint}")


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from the config file, the environment, then explicit overrides.
    Raises ConfigError, naming the file, variable or option a bad value came from."""
    config = config or (Path(p) if (p := os.environ.get("THREADLINE_CONFIG")) else None)
    file_values = load_config_file(config) if config else {}
    # Environment variables beat the file: let pydantic-settings read them, then lay the file
    # underneath only for keys the environment did not set.
    env_set = {name for name in Settings.model_fields if f"THREADLINE_{name.upper()}" in os.environ}
    options = {k: v for k, v in overrides.items() if v is not None}
    sources = {name: str(config) for name in file_values}
    sources.update({name: f"THREADLINE_{name.upper()}" for name in env_set})
    sources.update({name: f"--{name.replace('_', '-')}" for name in options})
    try:
        from_env = Settings()
        merged: dict[str, Any] = {k: v for k, v in file_values.items() if k not in env_set}
        merged.update({name: getattr(from_env, name) for name in env_set})
        merged.update(options)
        settings = Settings(**merged).with_environment_provider()
    except ValidationError as exc:
        raise ConfigError(_invalid_setting(exc, sources)) from None
    except SettingsError as exc:  # a structured variable (THREADLINE_PROVIDERS) that is not JSON
        raise ConfigError(
            f"a THREADLINE_* variable cannot be read ({exc}); structured settings such as "
            "providers take JSON in their variable"
        ) from None
    _check_default_provider(settings, sources.get("default_provider", "the settings"))
    _check_aliases(settings, sources.get("aliases", "the settings"))
    return settings


def _invalid_setting(exc: ValidationError, sources: Mapping[str, str]) -> str:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    name = loc[0] if loc else "settings"
    where = sources.get(name, "the environment")
    setting = ".".join(loc) or name
    more = exc.error_count() - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
    return f"invalid setting '{setting}' in {where}: {error['msg']}{tail}"


def _check_aliases(settings: Settings, where: str) -> None:
    """Each deployment names a declared provider, or can go to the default one."""
    for alias, route in settings.aliases.items():
        models = [route] if isinstance(route, str) else [d.model for d in route.deployment_list()]
        for model in models:
            prefix, sep, rest = model.partition("/")
            if sep and rest and prefix in settings.providers:
                continue
            if settings.default_provider is not None:
                continue
            declared = ", ".join(f"'{name}'" for name in settings.providers) or "none"
            raise ConfigError(
                f"alias '{alias}' (from {where}) is served by '{model}', which names no "
                f"declared provider (declared: {declared}) and there is no default_provider"
            )


def _check_default_provider(settings: Settings, where: str) -> None:
    default = settings.default_provider
    if default is None or default in settings.providers:
        return
    declared = ", ".join(f"'{name}'" for name in settings.providers) or "none"
    raise ConfigError(
        f"default_provider '{default}' (from {where}) is not a declared provider "
        f"(declared: {declared}); declare [providers.{default}] or pick one of those"
    )
