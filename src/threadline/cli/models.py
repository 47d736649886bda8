"""`threadline models`: the configured providers and the models each one offers."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.text import Text

from threadline.cli.backend import BackendError
from threadline.cli.common import ConfigOption, settings_from
from threadline.cli.output import JsonOption, fail, fail_from, out, print_json
from threadline.cli.output import table as output_table
from threadline.cli.target import ApiKeyOption, BaseUrlOption
from threadline.settings import Settings


def models(
    as_json: JsonOption = False,
    base_url: BaseUrlOption = None,
    api_key: ApiKeyOption = None,
    config: ConfigOption = None,
) -> None:
    """List configured providers and their models (the names to use as `model`).

    A provider's models are those its config lists, else what its GET /models answers. With
    --base-url, what the running server's GET /v1/models lists instead.
    """
    if base_url:
        names = asyncio.run(_server_models(base_url, api_key))
        if as_json:
            print_json(names)
        else:
            for name in names:
                out.print(Text(name))
        return
    settings = settings_from(config, None)
    if not settings.providers:
        fail(
            "no provider is configured",
            hint="set OPENAI_API_KEY (and OPENAI_BASE_URL for another endpoint), or declare "
            "[providers.NAME] in the config file; see docs/providers.md",
        )
    rows = asyncio.run(_provider_models(settings))
    if as_json:
        print_json(rows)
        return
    table = output_table("provider", "default", "base_url", "models")
    for row in rows:
        listed = ", ".join(row["models"]) or "(none listed: is it reachable? `threadline doctor`)"
        table.add_row(row["provider"], "yes" if row["default"] else "", row["base_url"], listed)
    out.print(table)


async def _server_models(base_url: str, api_key: str | None) -> list[str]:
    from threadline.cli.backend_http import HttpBackend  # noqa: PLC0415 (a large SDK)

    backend = HttpBackend(base_url, api_key)
    try:
        return await backend.list_models()
    except BackendError as exc:
        fail_from(exc)
    finally:
        await backend.aclose()


async def _provider_models(settings: Settings) -> list[dict[str, Any]]:
    from threadline.wiring import build_providers  # noqa: PLC0415 (imports the whole engine)

    registry = build_providers(settings)
    try:
        rows = []
        for name, provider in registry.providers.items():
            default = name == registry.default
            offered = await provider.list_models()
            rows.append(
                {
                    "provider": name,
                    "default": default,
                    "base_url": settings.providers[name].base_url,
                    "models": [m if default else f"{name}/{m}" for m in offered],
                }
            )
        return rows
    finally:
        await registry.aclose()
