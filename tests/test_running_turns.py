"""When a turn's start is written (engine/responses/running_turns.py): behind its first model
call, never after its end; a turn read for its end only, only once it has run for a while; a
turn that ends before its start was queued is written whole by its end."""

from __future__ import annotations

import asyncio

import pytest

from tests.storage.test_store_contract import msg, running
from threadline.engine.responses import running_turns
from threadline.engine.responses.running_turns import RunningTurns
from threadline.storage.base import TurnStart
from threadline.storage.memory import MemoryStore


class RecordingStore(MemoryStore):
    """Applies writes in call order (as SQLite's writer does) and notes each start."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self._log = log
        self.leased_until: float | None = None

    async def start_turn(self, start: TurnStart) -> None:
        self._log.append("start written")
        self.leased_until = start.lease_until
        await super().start_turn(start)


async def test_the_start_is_written_after_the_model_request_the_run_makes_first() -> None:
    log: list[str] = []
    turns = RunningTurns(RecordingStore(log), lease_seconds=600)
    record = running()
    turns.start(record, [msg("q")])
    await asyncio.sleep(0)
    assert log == []  # not before the run begins
    turns.begin(record.id, [])
    log.append("model request sent")  # the run's first model call, before it awaits
    for _ in range(3):
        await asyncio.sleep(0)
    assert log == ["model request sent", "start written"]
    await turns.stored(record.id)
    turns.end(record.id)


async def test_a_turn_ended_before_its_run_began_is_written_whole_by_its_end() -> None:
    log: list[str] = []
    turns = RunningTurns(RecordingStore(log), lease_seconds=600)
    record = running()
    turns.start(record, [msg("q")])
    assert await turns.stored(record.id) is False  # the end inserts the turn, start and all
    turns.end(record.id)
    await asyncio.sleep(0)
    assert log == []


async def test_an_end_waits_for_a_start_queued_but_not_yet_handed_to_the_store() -> None:
    log: list[str] = []
    turns = RunningTurns(RecordingStore(log), lease_seconds=600)
    record = running()
    turns.start(record, [msg("q")])
    turns.begin(record.id, [])
    # One turn of the loop: the start's task now exists, its first step not yet run.
    await asyncio.sleep(0)
    assert log == []
    await turns.stored(record.id)
    log.append("end written")
    assert log == ["start written", "end written"]
    turns.end(record.id)


@pytest.fixture
def short_deferral(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(running_turns, "START_DEFERRED_SECONDS", 0.05)
    return 0.05


def _run_deferred(turns: RunningTurns) -> str:
    """Start a turn and begin its run as one read for its end only; its id."""
    record = running()
    turns.start(record, [msg("q")])
    turns.begin(record.id, [], deferred=True)
    return record.id


async def test_a_deferred_start_is_never_written_for_a_turn_that_ends_sooner(
    short_deferral: float,
) -> None:
    log: list[str] = []
    turns = RunningTurns(RecordingStore(log), lease_seconds=600)
    response_id = _run_deferred(turns)
    await asyncio.sleep(0)
    assert await turns.stored(response_id) is False
    turns.end(response_id)
    await asyncio.sleep(short_deferral * 3)
    assert log == []


async def test_a_deferred_start_is_written_once_the_turn_has_run_that_long(
    short_deferral: float,
) -> None:
    log: list[str] = []
    now = [100.0]
    store = RecordingStore(log)
    turns = RunningTurns(store, lease_seconds=600, clock=lambda: now[0])
    response_id = _run_deferred(turns)
    for _ in range(3):
        await asyncio.sleep(0)
    assert log == []
    now[0] = 100.5
    await asyncio.sleep(short_deferral * 3)
    assert log == ["start written"]
    assert store.leased_until == 700.5  # leased from when it was written, not from its start
    assert await turns.stored(response_id) is True  # the end finishes the stored start
    turns.end(response_id)


async def test_a_turn_that_ends_unsaved_never_writes_its_deferred_start(
    short_deferral: float,
) -> None:
    log: list[str] = []
    turns = RunningTurns(RecordingStore(log), lease_seconds=600)
    turns.end(_run_deferred(turns))
    await asyncio.sleep(short_deferral * 3)
    assert log == []
