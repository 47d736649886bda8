"""What the console's forms and filters send, read into values: text, numbers, dates,
`key=value` pairs. A value that does not read is `InvalidRequest` naming its field, which the
page shows."""

from __future__ import annotations

import datetime

from starlette.datastructures import FormData

from threadline.errors import InvalidRequest

DAY = 86400.0


def field(form: FormData, name: str) -> str:
    """A text field of the form, stripped ("" when absent or a file)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def day_start(text: str, param: str) -> float | None:
    """The UTC midnight a `YYYY-MM-DD` field names (None when empty)."""
    if not text:
        return None
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"{param} must be a date (YYYY-MM-DD).", param=param) from None
    return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC).timestamp()


def date_of(seconds: float | None) -> str:
    """`YYYY-MM-DD` of a moment (UTC), as a date field shows it ("" for None)."""
    if seconds is None:
        return ""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).date().isoformat()


def metadata_pairs(text: str) -> dict[str, str]:
    """`key=value` pairs, separated by commas."""
    pairs: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidRequest("Metadata filters are key=value pairs.", param="metadata")
        pairs[key.strip()] = value.strip()
    return pairs


def number(form: FormData, name: str, *, whole: bool, least: float) -> float | None:
    """A number field (None when empty), at least `least`."""
    text = field(form, name)
    if not text:
        return None
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise InvalidRequest(f"{name} must be {kind}.", param=name) from None
    if not value >= least:  # NaN too
        raise InvalidRequest(f"{name} must be at least {least:g}.", param=name)
    return value


def confirmed(form: FormData, what: str = "deleting") -> None:
    """Refuse a form whose confirmation box is not ticked (the page requires it; a request
    without it is refused, not taken as a yes)."""
    if field(form, "confirm") != "yes":
        raise InvalidRequest(f"Tick the box to confirm: {what} cannot be undone.", param="confirm")
