"""`threadline serve`"""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from threadline.api.app import create_app
from threadline.cli.common import ConfigOption, DbOption, settings_from


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [default: 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [default: 8080].")] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning, error.")] = None,
) -> None:
    """Start the API server (OpenAI Responses and Conversations API under /v1)."""
    settings = settings_from(config, db, host=host, port=port, log_level=log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 5,
    )
