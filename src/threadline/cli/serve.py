"""`threadline serve`

One process serves the app object directly. With `--workers N`, uvicorn's supervisor starts N
processes that each import `threadline.api.asgi`; the command's options reach them as the
`THREADLINE_*` variables they read. On Linux each worker listens on a socket of its own, so the
kernel spreads connections across them (worker_sockets.py). Before anything listens, `startup`
checks the port and opens (and migrates) the database once, so each worker's own migration
finds nothing to do.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from uvicorn.config import LOGGING_CONFIG
from uvicorn.supervisors import Multiprocess

from threadline import open_files
from threadline.api.request_id import with_request_ids
from threadline.cli import startup
from threadline.cli.common import ConfigOption, DbOption, err_console, settings_from
from threadline.cli.output import USAGE, fail
from threadline.cli.worker_sockets import SPREADS_CONNECTIONS, spread_listener

WORKER_APP = "threadline.api.asgi:app_from_environment"


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [default: 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [default: 8080].")] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    log_level: Annotated[
        str | None, typer.Option(help="debug, info, warning, error or critical.")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes sharing the port (SQLite file or PostgreSQL; not memory://).",
        ),
    ] = 1,
) -> None:
    """Start the API server (OpenAI Responses and Conversations API under /v1)."""
    overrides: dict[str, Any] = {"host": host, "port": port, "log_level": log_level}
    settings = settings_from(config, db, **overrides)
    from threadline.api.connection_limits import (  # noqa: PLC0415  (see create_app below)
        ConnectionLimits,
        bounded_http_protocol,
    )

    startup.check_port_free(settings.host, settings.port)
    open_files.raise_limit()
    startup.print_banner(settings, keys_required=startup.open_database(settings))
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": int(settings.shutdown_grace_seconds) + 5,
        "log_config": with_request_ids(LOGGING_CONFIG, settings.log_level),
        "timeout_keep_alive": settings.keep_alive_timeout,
        "http": bounded_http_protocol(ConnectionLimits.of(settings)),
    }
    if workers == 1:
        # Imported here: the whole web app (FastAPI, the engine, every route) would otherwise
        # load for every `threadline` command, `--help` included.
        from threadline.api.app import create_app  # noqa: PLC0415

        uvicorn.run(create_app(settings), **common)
        return
    if settings.database_url == "memory://":
        err_console.print(
            "[red]error:[/red] memory:// lives inside one process; --workers needs a SQLite "
            "file or PostgreSQL"
        )
        raise typer.Exit(2)
    _export_for_workers(config, {"database_url": db, **overrides})
    with _shared_metrics_directory():
        if SPREADS_CONNECTIONS:
            _run_spread(uvicorn.Config(WORKER_APP, factory=True, workers=workers, **common))
        else:
            uvicorn.run(WORKER_APP, factory=True, workers=workers, **common)


def _run_spread(config: uvicorn.Config) -> None:
    """What `uvicorn.run` does with workers, each worker on its own socket."""
    try:
        listener = spread_listener(config.host, config.port)
    except OSError as exc:
        fail(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}", code=USAGE)
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on http://%s:%d (Press CTRL+C to quit), a socket per worker",
        config.host,
        config.port,
    )
    try:
        Multiprocess(config, sockets=[listener]).run()
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()


@contextmanager
def _shared_metrics_directory() -> Iterator[None]:
    """Where the workers' metrics meet (api/metrics.py), emptied for this run; one the
    operator set (PROMETHEUS_MULTIPROC_DIR) is theirs to keep and clean."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="threadline-metrics-") as directory:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        try:
            yield
        finally:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]


def _export_for_workers(config: Path | None, overrides: dict[str, Any]) -> None:
    """Put the command's options where every worker's `load_settings()` finds them."""
    if config is not None:
        os.environ["THREADLINE_CONFIG"] = str(config.resolve())
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"THREADLINE_{name.upper()}"] = str(value)
