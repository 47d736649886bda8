"""A deterministic fake OpenAI Chat Completions server: the test double for the model.

Usage::

    with FakeUpstream() as fake:              # uvicorn in a background thread, free port
        client = OpenAI(base_url=fake.base_url, api_key="k")   # "http://127.0.0.1:PORT/v1"
        ...
        fake.last_request()["body"]["messages"]    # exactly what the model was sent
        fake.last_request()["headers"]["authorization"]    # "Bearer k"

    FakeUpstream(*, host="127.0.0.1", port=0, chunk_delay=0.0, record=True); .start() (returns
    self once connectable) / .stop(); .base_url, .port; .requests (a snapshot list);
    .last_request(); .clear() (indexes restart at 0); .set_chunk_delay(seconds).
    python -m tests.fake_upstream --port N [--chunk-delay S] [--record]   # standalone, for
    benchmarks: prints "fake upstream listening on <base_url>", records nothing by default.

Endpoints: ``POST /v1/chat/completions`` (JSON, or SSE when ``"stream": true``),
``POST /v1/messages`` (Anthropic's Messages API, the same directives: tests/fake_anthropic.py),
``POST /v1/responses`` (an upstream Responses API: tests/fake_responses.py),
``POST /v1/embeddings`` (deterministic vectors: tests/fake_embeddings.py) and
``GET /v1/models`` (fake-model, fake-vision, fake-reasoner). Every request is recorded
in ``fake.requests`` as ``{"body": parsed JSON, "headers": {lower-case name: value}}``, and
every completion/chunk carries ``"threadline_fake": {"request_index": i}`` so a test can
look up ``fake.requests[i]``. ``model`` is echoed back; any name works except
``missing-model`` (404, code ``model_not_found``).

Directives: the reply depends on the text of the LAST ``user`` message (string content, or the
concatenated ``text`` parts), trimmed:

- *(anything else)*  reply ``"echo: <last user text>"``.
- ``describe``       reply is compact JSON of what was received: ``{"messages": [{"role",
  "content", and "name"/"tool_call_id"/"reasoning_content"/"tool_calls": [{"id", "name",
  "arguments"}] when present}], "tools": [function names], "response_format": ...,
  "max_tokens": max_completion_tokens or max_tokens, "params": {every other body key except
  model/stream/stream_options}}``. List content is summarised part by part as ``{"text": t}``,
  ``{"image_url": url[, "detail": d]}``, ``{"input_audio": format}``, ``{"file": id or name}``.
  Never cut by max_tokens.
- ``call <name> <json-args>``  one tool call (finish_reason ``tool_calls``, content null,
  ids ``call_1``, ``call_2``... unique per server). Arguments are passed through verbatim;
  missing arguments mean ``{}``.
- ``call2 <n1> <json1> ; <n2> <json2>``  parallel tool calls (``call`` accepts ``;`` too).
- no directive, but tools offered (and ``tool_choice`` not ``none``): like a model, the fake
  calls the function ``tool_choice`` forces (the first tool for ``required``), else an offered
  function the text names by a word of 4+ letters of its name ("What's the weather?" calls
  ``get_weather``); the arguments are an instance of its ``parameters`` schema (as for
  ``json_schema`` below). Otherwise the echo.
- last message is a ``tool`` message → ``"tool said: <r1> | <r2>"``: the contents of the
  tool messages after the last assistant message (directives are then ignored).
- ``long <n>``       reply ``"w1 w2 ... wn"``.
- ``reason <text>``  ``reasoning_content`` = <text> (streamed as deltas), then content ``done``.
- ``refuse <text>``  the model declines: ``refusal`` = <text> and content null (non-streaming:
  ``message.refusal``; streaming: ``delta.refusal`` in word pieces), finish_reason ``stop``.
- ``fail <status> [<text>]``  HTTP <status> (400-599, else 500) with ``{"error": {"message":
  "fake upstream failure <status>[: <text>]", "type", "param": null, "code"}}`` (a <text>
  stands for an upstream message that quotes the prompt); 429 adds
  ``Retry-After: 1`` (type "requests", code "rate_limit_exceeded"; 5xx: "server_error").
- ``slow <seconds>`` wait, then answer as the default echo.
- model ``fake-window-<N>``: a prompt of more than N words is refused (400,
  ``context_length_exceeded``), as a model refuses one beyond its context window.
- ``flaky <n> <tag>`` the first <n> requests with this exact text get HTTP 503 (with
  ``Retry-After: 0``), later ones the default echo: for testing retries.
- ``stall``          stream: the role chunk, then nothing until the server stops;
  non-streaming: no answer until the server stops (then a 503).
- ``reset``          stream: role chunk + one content chunk, then the connection is aborted;
  non-streaming: a truncated body, then abort.
- ``garbage``        stream: a ``data:`` line that is not JSON (then ``[DONE]``);
  non-streaming: 200 with an invalid JSON body.
- ``set cookie``     non-streaming: the default echo, with ``Set-Cookie: session=fake-secret``
  (a client that kept cookies would send it back on its next request).

``response_format`` (unless ``describe``/``long``/``call``/``reason``, and also after tool
results): ``json_schema`` → an instance of the schema (string "x", integer 1, number 1.5,
boolean true, arrays of one item, first enum value / anyOf branch, ``$ref`` followed,
objects get all ``properties``); ``json_object`` → ``{"echo": <last user text>}``.
``max_tokens``/``max_completion_tokens`` cut the content to that many words (finish_reason
``length``). Tokens are whitespace-separated words: prompt = words of all message texts;
completion = words of content + refusal + reasoning + tool-call arguments; reasoning_tokens =
words of reasoning; cached_tokens = 0.

Streams look like OpenAI's: ``{"role": "assistant", "content": ""}`` first (content ``null``
for tool calls, as OpenAI sends), content in word pieces (their concatenation is the text),
each tool call as a header delta (index, id, type, name, arguments "") then its arguments in
2-3 pieces, a chunk with ``finish_reason``, a usage chunk with ``"choices": []`` when
``stream_options.include_usage``, then ``data: [DONE]``. Every chunk carries ``"usage": null``
when include_usage is on.
``set_chunk_delay(seconds)`` waits between chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.fake_anthropic import count_tokens as anthropic_count_tokens
from tests.fake_anthropic import messages as anthropic_messages
from tests.fake_embeddings import embeddings
from tests.fake_responses import input_tokens as upstream_input_tokens
from tests.fake_responses import responses as upstream_responses
from tests.fake_upstream_replies import (
    JSON,
    LONG_SLEEP,
    Reply,
    error_body,
    last_user_text,
    plan_reply,
    split_arguments,
    split_pieces,
)

MODELS = ("fake-model", "fake-vision", "fake-reasoner")
_DONE = b"data: [DONE]\n\n"


class FakeReset(Exception):
    """Raised inside a response to make uvicorn drop the connection (the `reset` directive)."""


class _DropFakeResets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], FakeReset))


logging.getLogger("uvicorn.error").addFilter(_DropFakeResets())


class _State:
    """Shared between the server thread and the test thread."""

    def __init__(self, chunk_delay: float, record: bool) -> None:
        self.lock = threading.Lock()
        self.requests: list[JSON] = []
        self.model_listings: list[dict[str, str]] = []
        """The headers of each `GET /v1/models`."""
        self.chunk_delay = chunk_delay
        self.record = record
        self.unrecorded = itertools.count()
        self.call_ids = itertools.count(1)
        self.stopping: asyncio.Event | None = None
        self.flaky_seen: dict[str, int] = {}

    def flaky_failure(self, text: str) -> bool:
        """True while a `flaky <n> <tag>` text has been seen at most n times."""
        word, _, rest = text.strip().partition(" ")
        times, _, _ = rest.partition(" ")
        if word != "flaky" or not times.isdigit():
            return False
        with self.lock:
            seen = self.flaky_seen[text] = self.flaky_seen.get(text, 0) + 1
        return seen <= int(times)

    def add(self, body: Any, headers: dict[str, str]) -> int:
        if not self.record:
            return next(self.unrecorded)
        with self.lock:
            self.requests.append({"body": body, "headers": headers})
            return len(self.requests) - 1

    def new_call_id(self) -> str:
        return f"call_{next(self.call_ids)}"

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake up early when the server is stopping."""
        if seconds <= 0:
            return
        if self.stopping is None:
            self.stopping = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(obj), status, headers, "application/json")


class _TruncatedResponse(Response):
    """Promises a longer body than it sends, then aborts the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"id": "chatcmpl-', "more_body": True})
        raise FakeReset


class _Renderer:
    def __init__(self, body: JSON, reply: Reply, index: int) -> None:
        self.reply = reply
        self.head: JSON = {
            "id": f"chatcmpl-fake{index}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model"),
            "system_fingerprint": "fp_fake",
        }
        self.tail: JSON = {"threadline_fake": {"request_index": index}}
        options = body.get("stream_options")
        self.include_usage = isinstance(options, dict) and options.get("include_usage") is True

    def usage(self) -> JSON:
        r = self.reply
        return {
            "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.completion_tokens,
            "total_tokens": r.prompt_tokens + r.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": r.reasoning_tokens},
        }

    def completion(self) -> JSON:
        r = self.reply
        message: JSON = {"role": "assistant", "content": r.content, "refusal": r.refusal}
        if r.reasoning is not None:
            message["reasoning_content"] = r.reasoning
        if r.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in r.tool_calls
            ]
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": r.finish_reason,
        }
        return {
            **self.head,
            "object": "chat.completion",
            "choices": [choice],
            "usage": self.usage(),
        } | self.tail

    def chunk(self, delta: JSON, finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        obj: JSON = {**self.head, "choices": [choice]}
        if self.include_usage:
            obj["usage"] = None
        return b"data: " + orjson.dumps(obj | self.tail) + b"\n\n"

    def chunks(self) -> list[bytes]:
        """Everything after the role chunk, for a normal (mode "ok") reply."""
        r = self.reply
        out = [self.chunk({"reasoning_content": p}) for p in split_pieces(r.reasoning or "")]
        out += [self.chunk({"content": p}) for p in split_pieces(r.content or "")]
        out += [self.chunk({"refusal": p}) for p in split_pieces(r.refusal or "")]
        for i, call in enumerate(r.tool_calls):
            function = {"name": call.name, "arguments": ""}
            header = {"index": i, "id": call.id, "type": "function", "function": function}
            out.append(self.chunk({"tool_calls": [header]}))
            for piece in split_arguments(call.arguments):
                delta = {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}
                out.append(self.chunk(delta))
        out.append(self.chunk({}, r.finish_reason))
        if self.include_usage:
            usage = {**self.head, "choices": [], "usage": self.usage()} | self.tail
            out.append(b"data: " + orjson.dumps(usage) + b"\n\n")
        return out


async def _stream(state: _State, renderer: _Renderer) -> AsyncIterator[bytes]:
    reply = renderer.reply
    yield renderer.chunk(
        {"role": "assistant", "content": "" if reply.content is not None else None}
    )
    if reply.mode == "stall":
        await state.sleep(LONG_SLEEP)
        return
    if reply.mode == "garbage":
        yield b"data: {this is not json\n\n"
        yield _DONE
        return
    if reply.mode == "reset":
        yield renderer.chunk({"content": (split_pieces(reply.content or "") or ["x"])[0]})
        await asyncio.sleep(0.01)  # let the chunk reach the socket before the abort
        raise FakeReset
    for chunk in renderer.chunks():
        await state.sleep(state.chunk_delay)
        yield chunk
    yield _DONE


async def chat_completions(request: Request) -> Response:
    state: _State = request.app.state.fake
    raw = await request.body()
    try:
        body: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = raw.decode(errors="replace")
    index = state.add(body, dict(request.headers))
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return _json(error_body(400, "fake upstream: body must be JSON with 'messages'"), 400)
    reply = plan_reply(body, state.new_call_id)
    if state.flaky_failure(last_user_text(body["messages"])):
        return _json(error_body(503, "fake upstream flaky failure"), 503, {"retry-after": "0"})
    await state.sleep(reply.delay)
    if reply.mode == "fail":
        headers = {"retry-after": "1"} if reply.status == 429 else None
        return _json(reply.error, reply.status, headers)
    renderer = _Renderer(body, reply, index)
    if body.get("stream") is True:
        headers = {"cache-control": "no-cache"}
        return StreamingResponse(_stream(state, renderer), 200, headers, "text/event-stream")
    if reply.mode == "stall":
        await state.sleep(LONG_SLEEP)
        return _json(error_body(503, "fake upstream stopped while stalling"), 503)
    if reply.mode == "garbage":
        return Response(
            b'{"id": "chatcmpl-garbage", "choices": [ oops', 200, None, "application/json"
        )
    if reply.mode == "reset":
        return _TruncatedResponse()
    cookie = {"set-cookie": "session=fake-secret; Path=/"}
    asked = last_user_text(body["messages"]).strip() == "set cookie"
    return _json(renderer.completion(), headers=cookie if asked else None)


async def list_models(request: Request) -> Response:
    state: _State = request.app.state.fake
    with state.lock:
        state.model_listings.append(dict(request.headers))
    data = [
        {"id": m, "object": "model", "created": 0, "owned_by": "threadline-fake"} for m in MODELS
    ]
    return _json({"object": "list", "data": data})


def create_app(chunk_delay: float = 0.0, record: bool = True) -> Starlette:
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/messages", anthropic_messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", anthropic_count_tokens, methods=["POST"]),
            Route("/v1/responses", upstream_responses, methods=["POST"]),
            Route("/v1/responses/input_tokens", upstream_input_tokens, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
        ]
    )
    app.state.fake = _State(chunk_delay, record)
    return app


def _bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP named, not 0: asyncio turns Nagle off (TCP_NODELAY) only on connections of a
    # socket that names it, and with Nagle on, a keep-alive response written in two parts waits
    # ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # Listening now lets connections queue in the backlog until uvicorn starts accepting, so
    # whoever reads the "listening" line can connect at once.
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _config(app: Starlette, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        **options,
    )


class FakeUpstream:
    """The fake model server, run by uvicorn on its own event loop in a background thread."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        chunk_delay: float = 0.0,
        record: bool = True,
    ) -> None:
        self.host = host
        self.app = create_app(chunk_delay, record)
        self._state: _State = self.app.state.fake
        self._sock = _bind(host, port)
        self.port: int = self._sock.getsockname()[1]
        self._server = uvicorn.Server(_config(self.app, log_config=None))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        """e.g. "http://127.0.0.1:PORT/v1" (what an OpenAI client's base_url wants)."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> list[JSON]:
        """A snapshot of the recorded chat requests: [{"body": ..., "headers": {...}}, ...]."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def model_listings(self) -> list[dict[str, str]]:
        """A snapshot of the headers of each model listing asked for."""
        with self._state.lock:
            return list(self._state.model_listings)

    def last_request(self) -> JSON:
        with self._state.lock:
            if not self._state.requests:
                raise AssertionError("the fake upstream has received no chat request")
            return self._state.requests[-1]

    def clear(self) -> None:
        """Forget the recorded requests (request indexes restart at 0)."""
        with self._state.lock:
            self._state.requests.clear()

    def set_chunk_delay(self, seconds: float) -> None:
        self._state.chunk_delay = seconds

    def start(self) -> FakeUpstream:
        """Start serving; returns once the port accepts connections."""
        if self._thread is not None:
            raise RuntimeError("FakeUpstream can be started only once")
        self._thread = threading.Thread(
            target=self._run, name=f"fake-upstream-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError("fake upstream failed to start") from self._error
            if time.monotonic() > deadline:
                raise TimeoutError("fake upstream did not start within 10 s")
            time.sleep(0.005)
        with socket.create_connection((self.host, self.port), timeout=5):
            pass
        return self

    def stop(self) -> None:
        """Stop serving (stalled requests are released) and join the thread."""
        loop, stopping = self._loop, self._state.stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start()
            self._error = exc

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._state.stopping = asyncio.Event()
        await self._server.serve(sockets=[self._sock])

    @staticmethod
    def serve_forever_cli(argv: Sequence[str] | None = None) -> None:
        """`python -m tests.fake_upstream [--host H] [--port N] [--chunk-delay S] [--record]`."""
        parser = argparse.ArgumentParser(description="Deterministic fake Chat Completions server")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
        parser.add_argument("--chunk-delay", type=float, default=0.0)
        parser.add_argument("--record", action="store_true", help="keep request bodies in memory")
        args = parser.parse_args(argv)
        sock = _bind(args.host, args.port)
        print(
            f"fake upstream listening on http://{args.host}:{sock.getsockname()[1]}/v1", flush=True
        )
        app = create_app(args.chunk_delay, args.record)
        uvicorn.Server(_config(app, loop="auto", http="auto")).run(sockets=[sock])


if __name__ == "__main__":
    FakeUpstream.serve_forever_cli()
