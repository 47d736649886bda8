"""What every benchmark is handed: where processes run, where files go, how long to measure."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.procs import Placement

MODEL = "fake-model"


@dataclass(frozen=True, slots=True)
class BenchContext:
    placement: Placement
    workdir: Path
    """Databases and process logs of this run (a temporary directory on the data disk)."""
    quick: bool
    postgres_url: str | None = None
    open_streams: int | None = None
    """Streams benchmark 4 opens at once (None: its default)."""

    def database(self, name: str) -> str:
        return str(self.workdir / f"{name}.db")

    def seconds(self, full: float, quick: float) -> float:
        return quick if self.quick else full

    def count(self, full: int, quick: int) -> int:
        return quick if self.quick else full
