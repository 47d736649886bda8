"""A background loop that does due work until none is left, then waits for a wake-up or the
next poll: the shape of every worker that takes its work from the shared store (webhook
deliveries, vector store ingestion), since another process may add work it hears nothing of."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class PollingLoop:
    def __init__(self, work: Callable[[], Awaitable[bool]], *, interval: float, what: str) -> None:
        """`work` does one batch and says whether more may be due at once; `what` names the
        work in the warning logged when a batch fails (the loop goes on)."""
        self._work = work
        self._interval = interval
        self._what = what
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever())

    def wake(self) -> None:
        """Work was added here: do it now rather than at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _forever(self) -> None:
        while True:
            try:
                while await self._work():
                    pass
            except Exception:
                log.warning("could not %s", self._what, exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
