"""A small HTTP server of documents for `file_url` tests: it counts what it sends, answers
`If-None-Match` with 304, redirects (/redirect/<name>, to its 127.0.0.1 address), and can send
a body that never ends or that drips."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class FileHost:
    def __init__(self) -> None:
        self.documents: dict[str, tuple[bytes, str]] = {}
        """name → (body, ETag), served at /doc/<name> as text/plain."""
        self.downloads: dict[str, int] = {}
        self.revalidations: dict[str, int] = {}
        self.endless_sent = 0
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *_: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path
                if path.startswith("/doc/"):
                    host._document(self, path[5:])
                elif path.startswith("/redirect/"):
                    self.send_response(302)
                    self.send_header("Location", f"{host.url}/doc/{path[10:]}")
                    self.end_headers()
                elif path == "/endless":
                    host._stream(self, b"x" * 65536, pause=0.0)
                elif path == "/drip":
                    host._stream(self, b"x", pause=0.1)
                else:
                    self.send_error(404)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def put(self, name: str, body: bytes, etag: str) -> str:
        self.documents[name] = (body, etag)
        return f"{self.url}/doc/{name}"

    def _document(self, handler: BaseHTTPRequestHandler, name: str) -> None:
        if name not in self.documents:
            handler.send_error(404)
            return
        body, etag = self.documents[name]
        if handler.headers.get("If-None-Match") == etag:
            self.revalidations[name] = self.revalidations.get(name, 0) + 1
            handler.send_response(304)
            handler.send_header("ETag", etag)
            handler.end_headers()
            return
        self.downloads[name] = self.downloads.get(name, 0) + 1
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("ETag", etag)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _stream(self, handler: BaseHTTPRequestHandler, piece: bytes, *, pause: float) -> None:
        """A body without a length, sent until the client hangs up (or 10 minutes pass)."""
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.end_headers()
        stop = time.monotonic() + 600
        try:
            while time.monotonic() < stop:
                handler.wfile.write(piece)
                handler.wfile.flush()
                self.endless_sent += len(piece)
                if pause:
                    time.sleep(pause)
        except OSError:
            pass

    def __enter__(self) -> FileHost:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
