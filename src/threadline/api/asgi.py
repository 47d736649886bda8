"""The ASGI application for process managers, built from the environment alone.

`threadline serve --workers N` points uvicorn here, as would any process manager:

    uvicorn --factory threadline.api.asgi:app_from_environment --workers 4
    gunicorn -k uvicorn.workers.UvicornWorker 'threadline.api.asgi:app_from_environment()'

Every worker process imports this module and builds its own app, so nothing can be handed
over in memory: settings come from `THREADLINE_*` variables and `THREADLINE_CONFIG`, which the
CLI sets from its options before starting the workers, so every worker builds the same Settings.
"""

from __future__ import annotations

from fastapi import FastAPI

from threadline.api.app import create_app
from threadline.settings_loading import load_settings


def app_from_environment() -> FastAPI:
    return create_app(load_settings())
