"""Bar charts as the usage page draws them: geometry for an inline SVG, computed here so the
page needs no script and no chart library, reads the same offline, and prints. Each chart is
shown beside a table of the same figures, for screen readers and for copying."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

WIDTH = 640
HEIGHT = 180
GAP = 2


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    shown: str
    """The value as the page writes it (`1,204`, `$0.0310`)."""
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class BarChart:
    title: str
    bars: list[Bar]
    top: str
    """The value of the chart's top line, as shown."""
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def empty(self) -> bool:
        return not any(bar.value for bar in self.bars)


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power * (1 + 1e-9):
            return float(step * power)
    return float(10 * power)


def bar_chart(
    title: str, points: list[tuple[str, float]], shown: Callable[[float], str]
) -> BarChart:
    top = nice_ceiling(max((value for _, value in points), default=0.0))
    slot = WIDTH / max(len(points), 1)
    bars = []
    for index, (label, value) in enumerate(points):
        height = HEIGHT * value / top
        bars.append(
            Bar(
                label,
                value,
                shown(value),
                x=index * slot + GAP / 2,
                y=HEIGHT - height,
                width=max(slot - GAP, 1),
                height=height,
            )
        )
    return BarChart(title, bars, shown(top))
