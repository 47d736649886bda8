"""Graceful shutdown: running turns get a grace period, then end cleanly.

uvicorn, on SIGTERM/SIGINT, stops accepting and waits for open connections before it runs
the lifespan's shutdown, so a streaming turn would be cut mid-stream. We chain onto its
signal handler: the moment a stop is asked for, running turns get `shutdown_grace_seconds`
to finish; those still running are then ended as `failed` (saved, and the client receives
`response.failed`), so every stream closes with a terminal event. Background responses get
the same grace; those still running are then given back to the queue, to run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import signal
from types import FrameType
from typing import Any

from threadline.api.sse import TurnTasks
from threadline.engine.responses.background import BackgroundJobs

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def drain_turns_on_stop_signal(
    tasks: TurnTasks, background: BackgroundJobs, grace_seconds: float
) -> None:
    loop = asyncio.get_running_loop()
    started: list[asyncio.Task[None]] = []

    def begin_drain() -> None:
        if not started:
            log.info(
                "stopping: %d running turns and %d background responses get %.0f s to finish",
                len(tasks),
                len(background),
                grace_seconds,
            )
            started.append(loop.create_task(tasks.drain(grace_seconds)))
            started.append(loop.create_task(background.stop(grace_seconds)))

    for sig in _SIGNALS:
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
            # A fresh context: the signal lands in whatever request's context is current,
            # and the drain's log lines belong to none.
            loop.call_soon_threadsafe(begin_drain, context=contextvars.Context())
            if callable(previous):
                previous(signum, frame)

        with contextlib.suppress(ValueError):  # not the main thread (embedded in tests)
            signal.signal(sig, handler)
