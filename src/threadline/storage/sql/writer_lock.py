"""The file lock through which the SQLite writers of one database take turns, across processes.

SQLite lets one connection write at a time, and a connection that finds the write lock taken
can only try again later: SQLite's own busy handler sleeps up to 100 ms between tries, and the
writer's BEGIN (engines.py) retries in steps of up to 2 ms. With two processes writing one file
(`serve --workers 2`), each commit of one left the other asleep for the rest of its step. Each
writer of this store now takes an exclusive `flock` on a file beside the database for the
length of its transaction; a writer waiting for it is woken by the kernel the moment the other
lets go, and SQLite's lock is then free.

The flock only orders Threadline's writers. SQLite's own lock still guards the data, and
whoever does not take the flock (the `sqlite3` shell, a copy's transaction) waits on it as
before. A writer waits for the flock at most `WAIT_S`: past that (a process stopped in the
middle of a write, say) it goes on without it, to SQLite's own wait, which ends in an error if
the database stays locked. A file system without `flock` (ENOLCK) leaves SQLite's lock alone.

The wait runs on a daemon thread of the lock's own, so that it can be abandoned: an abandoned
wait that later takes the flock lets it go at once (the thread runs the takes and the releases
queued for it in order), and a process exits whatever its thread waits for.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

SUFFIX = "-writers"
WAIT_S = 5.0

_Call = tuple[Callable[[], None], Future[None]]


class WriterLock:
    def __init__(self, database: Path) -> None:
        # The permissions of the database, as SQLite gives its -wal and -shm files (whatever the
        # umask), so whoever may write the database may take the lock.
        mode = database.stat().st_mode & 0o666 if database.exists() else 0o644
        self._fd = os.open(
            database.with_name(database.name + SUFFIX), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, mode
        )
        if os.fstat(self._fd).st_uid == os.geteuid():
            os.fchmod(self._fd, mode)
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._abandoned: Future[None] | None = None
        weakref.finalize(self, _close, self._fd, self._calls)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the flock (or not, past `WAIT_S`) while the block runs. One caller at a time:
        the store's writer thread."""
        took = self._take()
        try:
            yield
        finally:
            if took:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _take(self) -> bool:
        if self._abandoned is None or self._abandoned.done():
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                pass
            except OSError:
                return False
        waiting = self._queue(lambda: fcntl.flock(self._fd, fcntl.LOCK_EX))
        try:
            waiting.result(WAIT_S)
        except TimeoutError:
            self._abandoned = self._queue(lambda: fcntl.flock(self._fd, fcntl.LOCK_UN))
            return False
        except OSError:
            return False
        return True

    def _queue(self, call: Callable[[], None]) -> Future[None]:
        # Each call refers to `self`: a lock with calls queued or running is not collected, so
        # its descriptor is closed (finalize) only once nothing will use it.
        if self._thread is None:
            self._thread = threading.Thread(
                target=_serve, args=(self._calls,), name="threadline-sqlite-flock", daemon=True
            )
            self._thread.start()
        future: Future[None] = Future()
        self._calls.put((call, future))
        return future


def _serve(calls: queue.SimpleQueue[_Call | None]) -> None:
    while (item := calls.get()) is not None:
        call, future = item
        try:
            call()
        except OSError as exc:
            future.set_exception(exc)
        else:
            future.set_result(None)


def _close(fd: int, calls: queue.SimpleQueue[_Call | None]) -> None:
    calls.put(None)
    os.close(fd)
