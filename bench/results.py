"""What a benchmark produces: figures, each next to its baseline and target."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class Figure:
    """One measured number, the baseline measured in the same run, and the target."""

    key: str
    """Stable identifier, used to match a figure with the same one in an earlier run."""
    benchmark: str
    metric: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Figure:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(slots=True)
class Section:
    """Free-form findings (profiles, counters) rendered under the figures table."""

    title: str
    lines: list[str] = field(default_factory=list)


def not_run(key: str, benchmark: str, metric: str, unit: str, reason: str) -> Figure:
    return Figure(key, benchmark, metric, None, unit, note=f"not run ({reason})")


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct` percentile by nearest rank (what wrk and most load tools report)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def ms(seconds: float) -> float:
    return seconds * 1000.0
