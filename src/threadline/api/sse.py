"""Server-sent events framing, decoupled from the client connection.

The turn runs in its own task and the HTTP response only relays its events (a non-streaming
response awaits its turn's task). When the client
goes away the relay stops but the turn does not: it finishes, is saved, and can be retrieved
with GET /v1/responses/{id} (and, in a conversation, is part of the next turn). Every running
turn is tracked so that shutdown can wait for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

import orjson
from starlette.responses import StreamingResponse

from threadline.engine.responses.events import Event

T = TypeVar("T")


class TurnTasks:
    """The running turns: in the background of streaming responses, and under non-streaming
    ones, so that shutdown ends both kinds at the same grace deadline."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, events: AsyncIterator[Event], sink: asyncio.Queue[bytes | None]) -> None:
        self._track(asyncio.create_task(_pump(events, sink)))

    async def run_to_end(self, turn: Coroutine[Any, Any, T]) -> T | None:
        """The result of a non-streaming turn, or None when shutdown ended it (it is then
        saved as failed). Should this request be cancelled, the turn runs on and is saved,
        as a streaming turn does when its client goes away."""
        task = self._track(asyncio.create_task(turn))
        await asyncio.wait({task})
        return None if task.cancelled() else task.result()

    def _track(self, task: asyncio.Task[T]) -> asyncio.Task[T]:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, grace_seconds: float) -> None:
        """Let running turns finish for up to `grace_seconds`, then cancel the rest (they
        are then saved as failed)."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=10)


# Characters that str.splitlines() treats as line ends, which orjson leaves raw in strings.
# Escaped, so that SSE clients which split lines that way (httpx's iter_lines among them)
# still see one `data:` line per event.
_LINE_BREAKERS = (
    (b"\xc2\x85", b"\\u0085"),
    (b"\xe2\x80\xa8", b"\\u2028"),
    (b"\xe2\x80\xa9", b"\\u2029"),
)


def frame(event: Event) -> bytes:
    kind: str = event["type"]
    data = orjson.dumps(event)
    if b"\xc2\x85" in data or b"\xe2\x80" in data:
        for raw, escaped in _LINE_BREAKERS:
            data = data.replace(raw, escaped)
    return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"


async def _pump(events: AsyncIterator[Event], sink: asyncio.Queue[bytes | None]) -> None:
    try:
        async for event in events:
            sink.put_nowait(frame(event))
    finally:
        sink.put_nowait(None)


def follow_stream(events: AsyncIterator[Event]) -> StreamingResponse:
    """Relay events that are not a turn of this request (a background response being
    followed): when the client goes away, only the following stops."""

    async def relay() -> AsyncIterator[bytes]:
        async for event in events:
            yield frame(event)

    return _sse_response(relay())


def _sse_response(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/event-stream; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def event_stream(tasks: TurnTasks, events: AsyncIterator[Event]) -> StreamingResponse:
    sink: asyncio.Queue[bytes | None] = asyncio.Queue()
    tasks.start(events, sink)

    async def relay() -> AsyncIterator[bytes]:
        # Events that are already waiting (one upstream read often makes several: a new
        # item, its content part, the first deltas) go out in one write; nothing waits for
        # more to come.
        ended = False
        while not ended:
            ready = [await sink.get()]
            while not sink.empty():
                ready.append(sink.get_nowait())
            ended = ready[-1] is None  # the pump's last word: nothing follows it
            frames = [chunk for chunk in ready if chunk is not None]
            if frames:
                yield b"".join(frames)

    return _sse_response(relay())
