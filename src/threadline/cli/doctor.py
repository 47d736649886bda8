"""`threadline doctor`: check the setup and say what to fix."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Annotated

import typer
from rich.text import Text

from threadline.cli.common import ConfigOption, DbOption, err_console
from threadline.cli.doctor_checks import (
    Check,
    check_background,
    check_database,
    check_encryption,
    check_provider,
    check_provider_config,
    check_server,
)
from threadline.cli.output import JsonOption, out, print_json
from threadline.settings import Settings
from threadline.settings_loading import ConfigError, load_settings

_MARKS = {
    "ok": ("✓", "green"),
    "info": ("·", "blue"),
    "warn": ("!", "yellow"),
    "fail": ("✗", "red"),
}


def doctor(
    config: ConfigOption = None,
    db: DbOption = None,
    host: Annotated[
        str | None,
        typer.Option(help="Look for the server at this address [default: the host setting]."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Look for the server on this port [default: the port setting]."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check the configuration, the database, each provider's reachability and credentials,
    and a running server (at --host/--port, as `serve` takes them); print what to fix. Exits 1
    if anything fails."""
    try:
        settings = load_settings(config, database_url=db, host=host, port=port)
    except ConfigError as exc:
        checks = [Check("config", "fail", str(exc), "fix the config file or THREADLINE_* values")]
    else:
        checks = [Check("config", "ok", f"loaded{f' from {config}' if config else ''}")]
        checks += asyncio.run(_run_checks(settings))
    if as_json:
        print_json([asdict(c) for c in checks])
    else:
        for check in checks:
            mark, style = _MARKS[check.level]
            line = Text.assemble((f"{mark} ", style), (f"{check.name}: ", "bold"), check.detail)
            out.print(line, soft_wrap=True)
            if check.fix and check.level != "ok":
                out.print(Text(f"    fix: {check.fix}", style="dim"), soft_wrap=True)
    failed = sum(c.level == "fail" for c in checks)
    if failed:
        if not as_json:
            err_console.print(f"{failed} problem(s) found.", style="red")
        raise typer.Exit(1)


async def _run_checks(settings: Settings) -> list[Check]:
    """The slow checks (network, database) run together."""
    database, server, providers = await asyncio.gather(
        check_database(settings),
        check_server(settings),
        asyncio.gather(
            *(check_provider(name, cfg, settings) for name, cfg in settings.providers.items())
        ),
    )
    return [
        *database,
        check_encryption(settings),
        *check_provider_config(settings),
        *filter(None, [check_background(settings)]),
        *providers,
        server,
    ]
