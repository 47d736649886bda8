"""The operator's console at `/console`: server-rendered pages over the same services the API
uses, signed into with the admin key (`admin_key`). See docs/console.md."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from threadline.api.console.guard import install_guard_pages
from threadline.api.console.pages import (
    audit,
    conversations,
    erase,
    keys,
    resources,
    responses,
    sign_in,
    usage,
)
from threadline.api.console.session import AdminSessions
from threadline.settings import Settings


def install_console(app: FastAPI, settings: Settings) -> None:
    key = settings.admin_key
    hours = settings.console_session_hours
    app.state.console_sessions = (
        AdminSessions(key.get_secret_value(), hours * 3600) if key is not None else None
    )
    install_guard_pages(app)
    static = StaticFiles(directory=str(files("threadline.api.console") / "static"))
    app.mount("/console/static", static, name="console-static")
    for pages in (sign_in, conversations, responses, usage, keys, resources, erase, audit):
        app.include_router(pages.router)
