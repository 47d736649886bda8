"""When a turn's start is written (engine/responses/running_turns.py): behind its first model
call, never after its end, and written even when the turn ends before any model call."""

from __future__ import annotations

import asyncio

from tests.storage.test_store_contract import msg, running
from threadline.engine.responses.running_turns import RunningTurns
from threadline.storage.base import TurnStart
from threadline.storage.memory import MemoryStore


class RecordingStore(MemoryStore):
    """Applies writes in call order (as SQLite's writer does) and notes each start."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self._log = log

    async def start_turn(self, start: TurnStart) -> None:
        self._log.append("start written")
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


async def test_a_turn_ended_before_its_run_began_writes_its_start_before_its_end() -> None:
    log: list[str] = []
    turns = RunningTurns(RecordingStore(log), lease_seconds=600)
    record = running()
    turns.start(record, [msg("q")])
    await turns.stored(record.id)
    log.append("end written")
    assert log == ["start written", "end written"]
    turns.end(record.id)


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
