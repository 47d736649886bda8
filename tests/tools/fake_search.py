"""A fake web search server for the tests, speaking three backends' APIs: SearXNG
(`GET /search?format=json`), Tavily (`POST /search`) and Brave (`GET /res/v1/web/search`). It
also serves documents for `file_url` tests (`GET /files/<name>`, see `.documents`).

Every search answers the same six pages (`PAGES`), whatever the query, except a query that
contains `explode`, which gets HTTP 500. Requests are recorded in `.requests`."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.tools.background import BackgroundServer

PAGES = [
    ("https://dice.example.com/rules", "Dice rules", "How to read 2d4+1 and other dice."),
    ("https://docs.example.org/dice", "Dice in the docs", "The documentation on dice."),
    ("https://www.example.net/history", "A history of dice", "Dice are five thousand years old."),
    ("https://docs.example.org/d20", "The d20", "Twenty faces."),
    ("https://blog.example.com/luck", "Luck", "On luck and loaded dice."),
    ("https://example.com/more", "More dice", "Yet more dice."),
]


class FakeSearch:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._log: list[dict[str, Any]] = []
        self.documents: dict[str, tuple[bytes, str]] = {}
        app = Starlette(
            routes=[
                Route("/search", self._searxng, methods=["GET"]),
                Route("/search", self._tavily, methods=["POST"]),
                Route("/res/v1/web/search", self._brave, methods=["GET"]),
                Route("/files/{name}", self._document, methods=["GET"]),
            ]
        )
        self._server = BackgroundServer(app)
        self.url = self._server.url

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._log)

    def _record(self, backend: str, request: Request, query: Any) -> None:
        with self._lock:
            self._log.append({"backend": backend, "query": query, "headers": dict(request.headers)})

    async def _searxng(self, request: Request) -> Response:
        params = dict(request.query_params)
        self._record("searxng", request, params)
        if "explode" in params.get("q", "") or params.get("format") != "json":
            return JSONResponse({"error": "boom"}, status_code=500)
        rows = [{"url": u, "title": t, "content": c, "engine": "fake"} for u, t, c in PAGES]
        return JSONResponse({"query": params["q"], "results": rows})

    async def _tavily(self, request: Request) -> Response:
        body = await request.json()
        self._record("tavily", request, body)
        if "explode" in body.get("query", ""):
            return JSONResponse({"detail": "boom"}, status_code=500)
        rows = [{"url": u, "title": t, "content": c, "score": 0.9} for u, t, c in PAGES]
        return JSONResponse({"query": body["query"], "results": rows})

    async def _brave(self, request: Request) -> Response:
        params = dict(request.query_params)
        self._record("brave", request, params)
        rows = [
            {"url": u, "title": f"<strong>{t}</strong>", "description": f"{c} &amp; more"}
            for u, t, c in PAGES
        ]
        return JSONResponse({"type": "search", "web": {"results": rows}})

    async def _document(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self.documents:
            return Response(status_code=404)
        data, media_type = self.documents[name]
        return Response(data, media_type=media_type)

    def __enter__(self) -> FakeSearch:
        self._server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.stop()
