"""How a turn's events leave the server: events that are ready together go out in one write,
and an event is never held back waiting for the next."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from threadline.api.sse import TurnTasks, event_stream, frame
from threadline.engine.responses.events import Event


def _event(n: int) -> Event:
    return {"type": "response.output_text.delta", "sequence_number": n, "delta": f"d{n}"}


async def test_events_ready_together_are_written_together() -> None:
    async def burst() -> AsyncIterator[Event]:
        for n in range(3):
            yield _event(n)

    response = event_stream(TurnTasks(), burst())
    writes = [chunk async for chunk in response.body_iterator]
    assert writes == [b"".join(frame(_event(n)) for n in range(3))]


async def test_an_event_is_written_before_the_next_one_exists() -> None:
    release = asyncio.Event()

    async def slow() -> AsyncIterator[Event]:
        yield _event(0)
        await release.wait()
        yield _event(1)

    writes = aiter(event_stream(TurnTasks(), slow()).body_iterator)
    first = await asyncio.wait_for(anext(writes), timeout=5)
    assert first == frame(_event(0))
    release.set()
    assert [chunk async for chunk in writes] == [frame(_event(1))]
