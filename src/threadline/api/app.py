"""The ASGI application: built from one `Settings` object by `create_app`."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from threadline import __version__
from threadline.api.access_log import drop_query_strings_from_access_log
from threadline.api.console import install_console
from threadline.api.direct_dispatch import DirectDispatch
from threadline.api.docs_pages import install_docs_pages
from threadline.api.errors import install_error_handlers
from threadline.api.limits import BodySizeLimit
from threadline.api.metrics import Metrics, MetricsMiddleware, install_metrics
from threadline.api.openapi import install_openapi
from threadline.api.request_id import RequestIds
from threadline.api.routes import (
    chat_completions,
    conversations,
    embeddings,
    export,
    files,
    models,
    responses,
    usage,
    vector_stores,
    webhooks,
)
from threadline.api.shutdown import drain_turns_on_stop_signal
from threadline.api.sse import TurnTasks
from threadline.api.websocket_refusal import RefuseWebSockets
from threadline.engine.retention import RetentionSweeper
from threadline.settings import Settings
from threadline.wiring import build_services

log = logging.getLogger("threadline")


def create_app(settings: Settings) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        drop_query_strings_from_access_log()  # here: uvicorn has configured its logging by now
        services = await build_services(settings)
        metrics.instrument(
            services.providers,
            (model for provider in settings.providers.values() for model in provider.models),
        )
        app.state.services = services
        app.state.turn_tasks = tasks = TurnTasks()
        drain_turns_on_stop_signal(tasks, services.background, settings.shutdown_grace_seconds)
        services.background.start()
        services.start_loops()
        if await services.store.has_api_keys():
            log.info("API keys are required (Authorization: Bearer <key>)")
        else:
            log.warning(
                "No API keys exist: the server is OPEN, every caller is tenant 'default'. "
                "Create one with `threadline keys create NAME` to require keys."
            )
        if not settings.providers:
            log.warning("No provider is configured: set OPENAI_API_KEY / OPENAI_BASE_URL.")
        # What exists now (modules, the app, the services) lives as long as the process.
        # Frozen, the cyclic GC stops walking it (~185k objects, ~60 ms) on every full
        # collection: a pause each request in flight would wait out (p99 86 -> 21 ms, c=16).
        gc.collect()
        gc.freeze()
        sweeping = asyncio.create_task(_sweep_forever(services.sweeper, settings.sweep_interval))
        try:
            yield
        finally:
            sweeping.cancel()
            grace = settings.shutdown_grace_seconds
            await asyncio.gather(tasks.drain(grace), services.background.stop(grace))
            await services.stop_loops()
            await services.aclose()
            metrics.close()

    app = FastAPI(
        title="Threadline",
        version=__version__,
        summary="OpenAI Responses and Conversations API, on storage you own.",
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=None,  # install_docs_pages serves them without a CDN
        redoc_url=None,
    )
    install_error_handlers(app)
    install_docs_pages(app)
    install_openapi(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.include_router(responses.router)
    app.include_router(chat_completions.router)
    app.include_router(embeddings.router)
    app.include_router(conversations.router)
    app.include_router(models.router)
    app.include_router(files.router)
    app.include_router(webhooks.router)
    app.include_router(export.router)
    app.include_router(vector_stores.router)
    app.include_router(usage.router)
    install_console(app, settings)
    app.add_middleware(RefuseWebSockets)
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    install_metrics(app, metrics, token)  # after the other middleware: it must be outermost
    _wrap_whole_stack(app, lambda stack: RequestIds(_direct_routes(stack, app, metrics, settings)))
    return app


def _direct_routes(stack: ASGIApp, app: FastAPI, metrics: Metrics, settings: Settings) -> ASGIApp:
    def direct_path(handler: ASGIApp) -> ASGIApp:
        # The middleware of the stack that a direct route still needs (websockets never
        # reach it: it takes POSTs only).
        limited = BodySizeLimit(handler, max_bytes=settings.max_request_bytes)
        return MetricsMiddleware(limited, metrics=metrics, routes_of=app)

    hot = [responses.router, chat_completions.router, embeddings.router]
    return DirectDispatch(stack, app, hot, direct_path)


def _wrap_whole_stack(app: FastAPI, wrapper: Callable[[ASGIApp], ASGIApp]) -> None:
    """Put `wrapper` outside Starlette's own error middleware, which `add_middleware` cannot.
    The stack is built at the first request, once every route is in place."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: wrapper(build())  # type: ignore[method-assign]


async def _sweep_forever(sweeper: RetentionSweeper, interval: float) -> None:
    # Always on: besides retention, a sweep ends the turns of processes that died.
    while True:
        try:
            await sweeper.sweep_once()
        except Exception:
            log.exception("retention sweep failed; retrying in %s s", interval)
        await asyncio.sleep(interval)
