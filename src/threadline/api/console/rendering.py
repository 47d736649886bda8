"""Turning a console page's template and values into an HTML response.

Templates are Jinja2 with autoescaping on: every value of ours reaches the page escaped, so
stored content (which is the users', and may hold any markup) is shown, never run. The page's
Content-Security-Policy allows nothing but this server's own stylesheet: no script at all,
no image from elsewhere (an `http` image in a transcript is linked, not loaded), and no
framing.
"""

from __future__ import annotations

import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from threadline import __version__

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _when(seconds: float | None) -> str:
    if not seconds:
        return "—"
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _day(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d")


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _dollars(value: float) -> str:
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


_environment = Environment(
    loader=PackageLoader("threadline.api.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters.update(when=_when, day=_day, count=_count, dollars=_dollars)
_environment.globals["version"] = __version__


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """The page `template` with `values`, plus what every page shows (the request's path, for
    the navigation's current page)."""
    html = _environment.get_template(template).render(path=request.url.path, **values)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
