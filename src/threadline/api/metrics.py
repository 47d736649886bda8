"""Prometheus metrics at GET /metrics: HTTP traffic, upstream latency, tokens and errors.

Names (all prefixed `threadline_`):

    http_requests_total{method, route, status}          counter
    http_request_duration_seconds{method, route}        histogram (a stream: until its end)
    http_errors_total{status, code}                      counter, every error envelope sent
    upstream_requests_total{provider, model, outcome}   counter, outcome = finish reason |
                                                         embedded | error
    upstream_request_duration_seconds{provider, model}  histogram, the whole upstream call
    upstream_first_token_seconds{provider, model}       histogram, until the first output delta
    upstream_errors_total{provider, model, code}        counter
    upstream_in_flight{provider}                         gauge
    tokens_total{provider, model, direction}            counter, direction = input | output

    workers                                              gauge, worker processes serving

plus the client library's process and Python collectors.

Under `threadline serve --workers N` every worker counts into files of its own in one
directory (prometheus_client's multiprocess mode, `PROMETHEUS_MULTIPROC_DIR`, which `serve`
sets up), and a scrape, whichever worker answers it, adds them all up: the figures are the
server's, not one worker's. The process and Python collectors describe one process, so they
are left out there.

Cost per request and size of a scrape stay bounded: `route` is the route template
(`/v1/responses/{response_id}`), never the raw path; label values that come from callers (model
names, upstream error codes) are capped in length and in number of distinct values, beyond
which they are counted as `other`; a model name becomes a label value only once it is
configured or a provider answered a call for it (a name the provider refuses stays `other`);
and each metric holds a bounded number of series. With `metrics_token` set, a scrape needs
`Authorization: Bearer <token>`.
The engine knows nothing of this: turns are observed by wrapping each model provider, the
port every upstream call goes through.
"""

from __future__ import annotations

import hmac
import os
import re
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson
from fastapi import FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadline.api.errors import error_response
from threadline.errors import AuthenticationFailed, ThreadlineError
from threadline.providers.base import (
    EmbeddingRequest,
    Embeddings,
    Finish,
    ModelProvider,
    ProviderEvent,
    ProviderRequest,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    TokenCount,
    ToolCallDelta,
    UsageReport,
)
from threadline.providers.registry import ProviderRegistry

MAX_LABEL_VALUES = 200
"""Distinct caller-chosen values (model names, error codes) kept per label before `other`."""
MAX_LABEL_LENGTH = 100
"""Longer caller-chosen values are counted as `other`."""
MAX_SERIES_PER_METRIC = 2000
"""Label combinations one metric keeps; later ones are counted under all-`other` labels."""

_UPSTREAM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_OUTPUT = (TextDelta, ToolCallDelta, ReasoningDelta, RefusalDelta)


class BoundedLabel:
    """Passes label values through until `limit` distinct ones were admitted, then says
    `other`; so it does for values longer than MAX_LABEL_LENGTH."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self._seen: set[str] = set()
        self._limit = limit

    def __call__(self, value: str) -> str:
        """`value` as a label, admitting it if there is room."""
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit or len(value) > MAX_LABEL_LENGTH:
            return "other"
        self._seen.add(value)
        return value

    def known(self, value: str) -> str:
        """`value` if it was admitted before, else `other`."""
        return value if value in self._seen else "other"


class _Children:
    """`metric.labels(*values)`, remembered: prometheus_client looks a child up under a lock
    and re-validates the values on every call, a cost paid several times per request. Past
    `limit` combinations, new ones share one all-`other` child, so neither this cache nor
    the scrape grows without bound."""

    def __init__(self, metric: Any, limit: int = MAX_SERIES_PER_METRIC) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}
        self._limit = limit

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            if len(self._children) >= self._limit:
                values = ("other",) * len(values)
                child = self._children.get(values)
                if child is not None:
                    return child
            child = self._children[values] = self._metric.labels(*values)
        return child


class Metrics:
    """One registry per app, so several apps in one process never collide."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # `_created` doubles the output
        self.registry = registry = CollectorRegistry()
        self._shared_directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if self._shared_directory is None:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        self.model_label = BoundedLabel()
        self.code_label = BoundedLabel()
        self.http_requests = Counter(
            "threadline_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "threadline_http_request_duration_seconds",
            "Time to answer an HTTP request (for a stream, until its last event).",
            ["method", "route"],
            registry=registry,
        )
        self.http_errors = Counter(
            "threadline_http_errors",
            "Error envelopes sent, by status and error code.",
            ["status", "code"],
            registry=registry,
        )
        self.upstream_requests = Counter(
            "threadline_upstream_requests",
            "Calls to model providers, by how they ended (finish reason, or error).",
            ["provider", "model", "outcome"],
            registry=registry,
        )
        self.upstream_duration = Histogram(
            "threadline_upstream_request_duration_seconds",
            "Duration of a call to a model provider, retries included.",
            ["provider", "model"],
            buckets=_UPSTREAM_BUCKETS,
            registry=registry,
        )
        self.upstream_first_token = Histogram(
            "threadline_upstream_first_token_seconds",
            "Time from the start of a provider call to its first output delta.",
            ["provider", "model"],
            buckets=_UPSTREAM_BUCKETS,
            registry=registry,
        )
        self.upstream_errors = Counter(
            "threadline_upstream_errors",
            "Provider calls that failed, by error code.",
            ["provider", "model", "code"],
            registry=registry,
        )
        self.upstream_in_flight = Gauge(
            "threadline_upstream_in_flight",
            "Provider calls running now.",
            ["provider"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.workers = Gauge(
            "threadline_workers",
            "Worker processes serving this server.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.workers.set(1)
        self.tokens = Counter(
            "threadline_tokens",
            "Tokens reported by providers, by direction (input or output).",
            ["provider", "model", "direction"],
            registry=registry,
        )

        self.http_requests_of = _Children(self.http_requests)
        self.http_duration_of = _Children(self.http_duration)
        self.upstream_requests_of = _Children(self.upstream_requests)
        self.upstream_duration_of = _Children(self.upstream_duration)
        self.upstream_first_token_of = _Children(self.upstream_first_token)
        self.upstream_in_flight_of = _Children(self.upstream_in_flight)
        self.tokens_of = _Children(self.tokens)
        self.upstream_errors_of = _Children(self.upstream_errors)
        self.http_errors_of = _Children(self.http_errors)

    def instrument(self, providers: ProviderRegistry, configured_models: Iterable[str]) -> None:
        """Route every provider of the registry through a metered wrapper; the configured
        model names are label values from the start."""
        for model in configured_models:
            self.model_label(model)
        providers.providers = {
            name: provider
            if isinstance(provider, MeteredProvider)
            else MeteredProvider(provider, self)
            for name, provider in providers.providers.items()
        }

    def exposition(self) -> bytes:
        if self._shared_directory is None:
            return generate_latest(self.registry)
        every_worker = CollectorRegistry()
        multiprocess.MultiProcessCollector(every_worker, path=self._shared_directory)  # type: ignore[no-untyped-call]
        return generate_latest(every_worker)

    def close(self) -> None:
        """This worker is leaving: its gauges stop counting (its counters stay in the sums)."""
        if self._shared_directory is not None:
            multiprocess.mark_process_dead(os.getpid(), self._shared_directory)  # type: ignore[no-untyped-call]


class MeteredProvider:
    """A model provider that records latency, tokens and failures of each call it forwards."""

    def __init__(self, inner: ModelProvider, metrics: Metrics) -> None:
        self.name = inner.name
        self.capabilities = inner.capabilities
        self._inner = inner
        self._metrics = metrics

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        m = self._metrics
        # A name the provider has not answered for yet may be anything a caller typed: it
        # becomes a label value only once the provider answers.
        provider, model = self.name, m.model_label.known(request.model)
        answered = False
        outcome = "cancelled"  # unless the stream ends or fails: the caller stopped reading
        waiting_first = True
        started = time.perf_counter()
        in_flight = m.upstream_in_flight_of(provider)
        in_flight.inc()
        try:
            async for event in self._inner.stream(request):
                if not answered:
                    answered = True
                    model = m.model_label(request.model)
                if waiting_first and isinstance(event, _OUTPUT):
                    waiting_first = False
                    elapsed = time.perf_counter() - started
                    m.upstream_first_token_of(provider, model).observe(elapsed)
                elif isinstance(event, UsageReport):
                    m.tokens_of(provider, model, "input").inc(event.input_tokens)
                    m.tokens_of(provider, model, "output").inc(event.output_tokens)
                elif isinstance(event, Finish):
                    outcome = event.reason
                yield event
            if outcome == "cancelled":
                outcome = "stop"  # a stream may end without an explicit finish reason
        except ThreadlineError as exc:
            outcome = "error"
            code = m.code_label(exc.code or "upstream_error")
            m.upstream_errors_of(provider, model, code).inc()
            raise
        finally:
            in_flight.dec()
            m.upstream_duration_of(provider, model).observe(time.perf_counter() - started)
            m.upstream_requests_of(provider, model, outcome).inc()

    async def count_input_tokens(self, request: ProviderRequest) -> TokenCount:
        """Not metered: a count is not a model call."""
        return await self._inner.count_input_tokens(request)

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        m = self._metrics
        provider, model = self.name, m.model_label.known(request.model)
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await self._inner.embed(request)
            model, outcome = m.model_label(request.model), "embedded"
            m.tokens_of(provider, model, "input").inc(result.input_tokens)
            return result
        except ThreadlineError as exc:
            m.upstream_errors_of(provider, model, m.code_label(exc.code or "upstream_error")).inc()
            raise
        finally:
            m.upstream_duration_of(provider, model).observe(time.perf_counter() - started)
            m.upstream_requests_of(provider, model, outcome).inc()

    async def list_models(self, api_key: str | None = None) -> list[str]:
        return await self._inner.list_models(api_key)

    async def aclose(self) -> None:
        await self._inner.aclose()


class MetricsMiddleware:
    """Counts and times every HTTP request, labelled by route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes_of: FastAPI) -> None:
        self.app = app
        self._metrics = metrics
        self._routes_of = routes_of
        self._templates: list[tuple[re.Pattern[str], str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # if the app raises before answering, the server answers 500
        answered = False
        error_status: int | None = None

        async def observed_send(message: Message) -> None:
            nonlocal status, answered, error_status
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
                error_status = status if status >= 400 else None
            elif message["type"] == "http.response.body" and error_status is not None:
                # Error bodies are small JSON envelopes sent in one piece; read their code.
                self._count_error(error_status, _error_code(message.get("body", b"")))
                error_status = None
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        except Exception:
            if not answered:  # Starlette's error middleware, outside, answers the 500
                self._count_error(500, "none")
            raise
        finally:
            route = self._route(scope)
            method = scope["method"]
            m = self._metrics
            m.http_requests_of(method, route, str(status)).inc()
            m.http_duration_of(method, route).observe(time.perf_counter() - started)

    def _count_error(self, status: int, code: str) -> None:
        self._metrics.http_errors_of(str(status), self._metrics.code_label(code)).inc()

    def _route(self, scope: Scope) -> str:
        route = getattr(scope.get("route"), "path", None)
        if isinstance(route, str):
            return route
        # Refused before routing (413 by the size limit, say): match the documented templates.
        if self._templates is None:
            paths = self._routes_of.openapi().get("paths", {})
            self._templates = [(compile_path(path)[0], path) for path in paths]
        path = scope.get("path", "")
        return next((t for regex, t in self._templates if regex.match(path)), "unmatched")


def _error_code(body: bytes) -> str:
    try:
        error = orjson.loads(body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return "unparsed"
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        return str(error["code"])
    return "none"


def install_metrics(app: FastAPI, metrics: Metrics, token: str | None) -> None:
    """Serve GET /metrics (to holders of `token`, when set) and count every request. Call
    after the other middleware is added, so that this one is outermost and sees what they
    refuse."""
    expected = f"Bearer {token}".encode() if token else None

    async def metrics_endpoint(request: Request) -> Response:
        if expected is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return error_response(
                    AuthenticationFailed(
                        "GET /metrics needs `Authorization: Bearer <token>` with the token "
                        "set as metrics_token (THREADLINE_METRICS_TOKEN)."
                    )
                )
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app.add_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes_of=app)
