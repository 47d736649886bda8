"""What `threadline serve` checks before it listens, and the block it prints when it starts.

A port already taken or a database that cannot be opened ends the command with one line
saying what to change (exit 2), instead of a traceback from inside uvicorn's start-up. Then a
short block on stderr says what the server will use: the database (password masked), the
providers (no keys), whether callers need an API key, and the problems `doctor` would report
without touching the network.
"""

from __future__ import annotations

import errno
import socket

from rich.markup import escape

from threadline import __version__
from threadline.cli.common import err_console, run_with_store
from threadline.cli.doctor_checks import (
    Check,
    check_background,
    check_provider_config,
    check_provider_key,
)
from threadline.cli.output import USAGE, fail
from threadline.settings import Settings
from threadline.storage.base import Store
from threadline.storage.factory import redacted


def check_port_free(host: str, port: int) -> None:
    """Listen on the address as uvicorn will (SO_REUSEADDR), then let it go."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        fail(f"cannot listen on {host}: no such address; pass --host (e.g. 127.0.0.1)", code=USAGE)
    family, _, _, _, address = infos[0]
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
            probe.listen(1)  # on Linux, a second bind with SO_REUSEADDR succeeds; listen does not
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            fail(f"port {port} is in use (another threadline?); pass --port N", code=USAGE)
        if exc.errno == errno.EACCES:
            fail(f"port {port} needs privileges to listen on; pass --port N above 1023", code=USAGE)
        if exc.errno == errno.EADDRNOTAVAIL:
            fail(
                f"{host} is not an address of this machine; pass --host (e.g. 0.0.0.0)", code=USAGE
            )
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", code=USAGE)


def open_database(settings: Settings) -> bool:
    """Open and migrate the database (or end the command saying why it cannot); whether
    callers need an API key."""

    async def keys_required(store: Store) -> bool:
        return await store.has_api_keys()

    return run_with_store(settings, keys_required)


def print_banner(settings: Settings, keys_required: bool) -> None:
    lines = [f"threadline {__version__}: http://{settings.host}:{settings.port}"]
    lines.append(f"  database   {redacted(settings.database_url)}")
    if settings.providers:
        for name, config in settings.providers.items():
            default = " (default)" if name == settings.default_provider else ""
            lines.append(f"  provider   {name}: {config.endpoint}{default}")
    else:
        lines.append("  providers  none")
    lines.append(
        "  auth       API keys required"
        if keys_required
        else "  auth       open: no API keys, every caller is tenant 'default'"
    )
    problems = startup_problems(settings)
    for check in problems:
        fix = f" ({check.fix})" if check.fix else ""
        lines.append(f"  problem    {check.name}: {check.detail}{fix}")
    if not problems:
        lines.append("  problems   none found (`threadline doctor` also tries the providers)")
    err_console.print(escape("\n".join(lines)), highlight=False, soft_wrap=True)


def startup_problems(settings: Settings) -> list[Check]:
    """What `doctor` finds wrong without the network: provider settings and missing keys."""
    checks = check_provider_config(settings)
    checks += [
        check
        for name, config in settings.providers.items()
        if (check := check_provider_key(name, config)) is not None
    ]
    if settings.database_url == "memory://":
        checks.append(Check("database", "warn", "memory:// keeps nothing across restarts"))
    if (queue_only := check_background(settings)) is not None:
        checks.append(queue_only)
    return [c for c in checks if c.level in ("warn", "fail")]
