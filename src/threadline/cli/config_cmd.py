"""`threadline config show`: the effective settings, where each came from, secrets masked."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import typer
from pydantic import SecretStr
from rich.text import Text

from threadline.cli.common import ConfigOption, DbOption, settings_from
from threadline.cli.output import USAGE, JsonOption, fail, out, print_json
from threadline.cli.output import table as output_table
from threadline.settings import ProviderSettings, Settings
from threadline.settings_loading import load_config_file
from threadline.storage.factory import redacted

app = typer.Typer(help="The configuration in effect.", no_args_is_help=True)

MASK = "********"
_SECRET_HEADER = re.compile(r"auth|key|token|secret|cookie|password", re.IGNORECASE)


@app.command()
def show(config: ConfigOption = None, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Show every setting in effect and its source (default, file, env, option); API keys,
    passwords and credential headers are masked."""
    settings = settings_from(config, db)
    path = config or (Path(p) if (p := os.environ.get("THREADLINE_CONFIG")) else None)
    try:
        file_values = load_config_file(path) if path else {}
    except (OSError, ValueError) as exc:
        fail(str(exc), code=USAGE)
    rows = effective_settings(settings, file_values, {"database_url": db})
    if as_json:
        print_json({"config_file": str(path) if path else None, "settings": rows})
        return
    if path:
        out.print(Text(f"config file: {path}", style="dim"))
    width = max(len(name) for name in rows)
    table = output_table("setting", "value", "source", key_width=width)
    for name, row in rows.items():
        table.add_row(name, Text(_display(row["value"])), row["source"])
    out.print(table)


def effective_settings(
    settings: Settings, file_values: dict[str, Any], options: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each setting's masked value and source, providers flattened to `providers.NAME.key`."""
    rows: dict[str, dict[str, Any]] = {}
    for name in Settings.model_fields:
        if name == "providers":
            continue
        value = getattr(settings, name)
        if name == "database_url":
            value = redacted(value)
        rows[name] = {"value": _plain(value), "source": _source(name, file_values, options)}
    if rows["default_provider"]["source"] == "default" and settings.default_provider:
        rows["default_provider"]["source"] = "derived"
    file_providers = file_values.get("providers") or {}
    for provider, config in settings.providers.items():
        source = "file" if provider in file_providers else "env OPENAI_*"
        for key, value in _provider_values(config).items():
            rows[f"providers.{provider}.{key}"] = {"value": value, "source": source}
    return rows


def _provider_values(config: ProviderSettings) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key in ProviderSettings.model_fields:
        value = getattr(config, key)
        if key == "headers":
            value = {h: MASK if _SECRET_HEADER.search(h) else v for h, v in value.items()}
        elif key == "api_key_env" and value:
            value = f"{value} ({'set' if os.environ.get(value) else 'NOT SET'})"
        values[key] = _plain(value)
    return values


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, Path):
        return str(value)
    return value


def _source(name: str, file_values: dict[str, Any], options: dict[str, Any]) -> str:
    if options.get(name) is not None:
        return "option"
    env = f"THREADLINE_{name.upper()}"
    if env in os.environ:
        return f"env {env}"
    if name in file_values:
        return "file"
    return "default"


def _display(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return value
    return json.dumps(value)
