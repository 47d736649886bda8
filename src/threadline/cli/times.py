"""How the command line reads times and lengths of time."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import typer

_LENGTH = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration(value: str) -> float | None:
    """A length of time in seconds (`30m`, `12h`, `7d`, `2w`); None if `value` is not one."""
    match = _LENGTH.match(value.strip())
    return None if match is None else float(match.group(1)) * _SECONDS[match.group(2)]


def length(value: str, option: str) -> float:
    """`duration`, or the error that names `option`."""
    seconds = duration(value)
    if seconds is None:
        raise typer.BadParameter(
            f"{value!r} is not a length of time: write a number and s, m, h, d or w (e.g. 30d)",
            param_hint=option,
        )
    return seconds


def moment(value: str) -> float:
    """A time as unix seconds: `1700000000`, an ISO date or time (UTC unless it says), or an
    age such as `30m`, `12h`, `7d`, `2w` (that long ago)."""
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    if (ago := duration(text)) is not None:
        return time.time() - ago
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{value!r} is not a time: use unix seconds, an ISO date (2025-01-31), "
            "or an age (30m, 12h, 7d, 2w)"
        ) from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
