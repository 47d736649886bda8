"""Reading py-spy's collapsed stacks (`--format raw`): where the samples went.

Each line is `frame;frame;…;frame COUNT`, root first; with `--threads` the first frame names
the thread (`thread (TID): MainThread`). A frame reads `function (path/to/file.py:LINE)`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_THREAD = re.compile(r"^thread \(\d+\): (?P<name>.*)$")


@dataclass(frozen=True, slots=True)
class Frame:
    function: str
    file: str

    @property
    def name(self) -> str:
        """`package/module.py:function`, the way the report names a hot spot."""
        return f"{self.file}:{self.function}" if self.file else self.function

    @property
    def package(self) -> str:
        """The library a frame belongs to; Threadline's own code by subpackage."""
        parts = self.file.split("/")
        if parts[0] == "threadline" and len(parts) > 2:
            return f"threadline.{parts[1]}"
        if parts[0].startswith("<"):
            return "python (frozen)"
        return parts[0].removesuffix(".py") or "?"


def parse_frame(text: str) -> Frame:
    match = _FRAME.match(text)
    if match is None:
        return Frame(text, "")
    return Frame(match["function"], match["file"])


@dataclass(slots=True)
class Profile:
    stacks: Counter[tuple[Frame, ...]]

    @property
    def samples(self) -> int:
        return sum(self.stacks.values())

    def self_time(self, top: int) -> list[tuple[str, float]]:
        """The leaf functions with the largest share of samples."""
        leaves: Counter[str] = Counter()
        for stack, n in self.stacks.items():
            if stack:
                leaves[stack[-1].name] += n
        return self._shares(leaves, top)

    def by_package(self, top: int) -> list[tuple[str, float]]:
        """Self time per library (the leaf frame's package)."""
        packages: Counter[str] = Counter()
        for stack, n in self.stacks.items():
            if stack:
                packages[stack[-1].package] += n
        return self._shares(packages, top)

    def inclusive(self, top: int, package_prefix: str) -> list[tuple[str, float]]:
        """Functions of one package by the share of samples they were on the stack for."""
        totals: Counter[str] = Counter()
        for stack, n in self.stacks.items():
            for name in {f.name for f in stack if f.package.startswith(package_prefix)}:
                totals[name] += n
        return self._shares(totals, top)

    def share(self, needles: Iterable[str]) -> float:
        """Fraction of samples with a frame whose name contains any of `needles`."""
        wanted = tuple(needles)
        hit = sum(
            n for stack, n in self.stacks.items() if any(w in f.name for f in stack for w in wanted)
        )
        return hit / self.samples if self.samples else 0.0

    def self_share(self, needles: Iterable[str]) -> float:
        """Fraction of samples whose innermost frame's name contains any of `needles`: time
        spent in those functions themselves, or in C code they called (orjson, pydantic-core),
        but not in what they wrap."""
        wanted = tuple(needles)
        hit = sum(
            n
            for stack, n in self.stacks.items()
            if stack and any(w in stack[-1].name for w in wanted)
        )
        return hit / self.samples if self.samples else 0.0

    def _shares(self, counts: Counter[str], top: int) -> list[tuple[str, float]]:
        total = self.samples
        return [(name, n / total) for name, n in counts.most_common(top)] if total else []


def parse_collapsed(text: str, thread: str | None = "MainThread") -> Profile:
    """The stacks of `thread` (all threads if None), thread frame removed."""
    stacks: Counter[tuple[Frame, ...]] = Counter()
    for line in text.splitlines():
        stack_text, _, count = line.rstrip().rpartition(" ")
        if not stack_text or not count.isdigit():
            continue
        frames = stack_text.split(";")
        match = _THREAD.match(frames[0])
        if match is not None:
            if thread is not None and match["name"] != thread:
                continue
            frames = frames[1:]
        elif frames[0].startswith("process "):
            frames = frames[1:]
        stacks[tuple(parse_frame(f) for f in frames)] += int(count)
    return Profile(stacks)
