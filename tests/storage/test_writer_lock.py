"""The SQLite store's writers take turns on a file lock beside the database (writer_lock.py):
a writer of another process holding it holds this store's writes up until it lets go, and a
holder that never lets go holds them up for `WAIT_S` at most."""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.storage.test_store_contract import A, save, texts
from threadline.storage.sql import SqlStore, writer_lock

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
"""


@contextmanager
def held_by_another_process(database: Path) -> Iterator[subprocess.Popen[str]]:
    """The writer lock of `database`, held by another process until it is told to let go
    (a line on its stdin) or ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, f"{database}{writer_lock.SUFFIX}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def free_within(database: Path, seconds: float) -> bool:
    fd = os.open(f"{database}{writer_lock.SUFFIX}", os.O_RDWR)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                time.sleep(0.05)
            else:
                fcntl.flock(fd, fcntl.LOCK_UN)
                return True
        return False
    finally:
        os.close(fd)


def let_go(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    holder.wait(10)


async def test_a_write_waits_while_another_process_holds_the_writer_lock(
    sqlite_store: SqlStore, tmp_path: Path
) -> None:
    first = await save(sqlite_store, ["q1"], ["a1"])
    with held_by_another_process(tmp_path / "threadline.db") as holder:
        waiting = asyncio.create_task(save(sqlite_store, ["q2"], ["a2"], previous=first))
        await asyncio.sleep(0.5)
        assert not waiting.done()
        # Reads do not take the lock.
        assert texts(await sqlite_store.load_chain(A, first)) == ["q1", "a1"]
        await asyncio.to_thread(let_go, holder)
        second = await asyncio.wait_for(waiting, 10)
    assert texts(await sqlite_store.load_chain(A, second)) == ["q1", "a1", "q2", "a2"]


async def test_a_write_goes_on_without_the_lock_once_it_has_waited_its_limit(
    sqlite_store: SqlStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_lock, "WAIT_S", 0.3)
    database = tmp_path / "threadline.db"
    with held_by_another_process(database) as holder:
        written = await asyncio.wait_for(save(sqlite_store, ["q"], ["a"]), 10)
        assert texts(await sqlite_store.load_chain(A, written)) == ["q", "a"]
        await asyncio.to_thread(let_go, holder)
    # The wait given up on takes the lock when it is let go, and lets it go at once.
    assert await asyncio.to_thread(free_within, database, 5.0)
    again = await asyncio.wait_for(save(sqlite_store, ["q2"], ["a2"], previous=written), 10)
    assert texts(await sqlite_store.load_chain(A, again)) == ["q", "a", "q2", "a2"]


async def test_the_writer_lock_file_has_the_databases_permissions(tmp_path: Path) -> None:
    database = tmp_path / "shared.db"
    database.touch()
    database.chmod(0o660)  # a database a group shares: its members may take the lock too
    store = SqlStore(f"sqlite+aiosqlite:///{database}")
    try:
        await store.migrate()
        await save(store, ["q"], ["a"])
    finally:
        await store.close()
    assert (tmp_path / f"shared.db{writer_lock.SUFFIX}").stat().st_mode & 0o777 == 0o660
