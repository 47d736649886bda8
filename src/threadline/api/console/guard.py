"""Who may see a console page, and what a console page shows when something is refused.

Every page but sign-in needs the operator's session (`Operator`); every POST needs the form
token of that session as well (`operator_form`). An error of ours raised while a page is built
is shown as a page, not as the API's JSON: `ConsoleRoute` catches it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse

from threadline.api.console.rendering import render
from threadline.api.console.session import COOKIE, AdminSessions
from threadline.engine.api_keys import OPEN_TENANT
from threadline.errors import ThreadlineError
from threadline.wiring import Services

ACTOR = "admin:console"
"""The audit log's actor for what the operator does in the console."""


class ConsoleOff(Exception):
    """No admin key is configured: the console is closed."""


class SignInRequired(Exception):
    def __init__(self, back_to: str) -> None:
        self.back_to = back_to


class FormRefused(Exception):
    """A POST without this session's form token (a stale page, or a forged request)."""


@dataclass(frozen=True, slots=True)
class Operator:
    """The signed-in operator, as a page needs them: the services, the form token its forms
    carry, and the tenants the pages can show."""

    services: Services
    form_token: str

    async def record(
        self, tenant: str | None, action: str, object_id: str | None = None, **details: Any
    ) -> None:
        """An act of the operator's, in the audit log (actor `admin:console`)."""
        await self.services.audit.record(tenant, ACTOR, action, object_id, **details)

    async def tenants(self) -> list[str]:
        """Every tenant a key names, and `default` (an open server's)."""
        keys = await self.services.store.list_api_keys()
        return sorted({OPEN_TENANT, *(key.tenant for key in keys)})


def sessions_of(request: Request) -> AdminSessions:
    sessions: AdminSessions | None = request.app.state.console_sessions
    if sessions is None:
        raise ConsoleOff()
    return sessions


async def operator(request: Request) -> Operator:
    sessions = sessions_of(request)
    cookie = request.cookies.get(COOKIE)
    if cookie is None or not sessions.is_valid(cookie):
        back_to = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(back_to)
    return Operator(request.app.state.services, sessions.form_token(cookie))


async def operator_form(request: Request) -> FormData:
    """The POSTed form, once its token is this session's."""
    await operator(request)
    form = await request.form()
    token = form.get("form_token")
    cookie = request.cookies.get(COOKIE, "")
    if not isinstance(token, str) or not sessions_of(request).form_token_matches(cookie, token):
        raise FormRefused()
    return form


OperatorDep = Annotated[Operator, Depends(operator)]
FormDep = Annotated[FormData, Depends(operator_form)]


class ConsoleRoute(APIRoute):
    """A console page: our errors become an error page with their status and message."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def shown_as_page(request: Request) -> Response:
            try:
                return await handler(request)
            except ThreadlineError as error:
                return render(
                    request,
                    "error.html",
                    status_code=error.status_code,
                    title="Refused" if error.status_code < 500 else "Failed",
                    message=error.message,
                )
            except RequestValidationError as error:
                names = ", ".join(str(e["loc"][-1]) for e in error.errors() if e.get("loc"))
                message = f"This page's address has a value that does not read: {names}."
                return render(request, "error.html", 400, title="Refused", message=message)

        return shown_as_page


def install_guard_pages(app: FastAPI) -> None:
    @app.exception_handler(ConsoleOff)
    async def console_off(request: Request, _: ConsoleOff) -> Response:
        return render(request, "off.html", status_code=404, title="Console off")

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, refused: SignInRequired) -> Response:
        return RedirectResponse(f"/console/sign-in?next={quote(refused.back_to)}", 303)

    @app.exception_handler(FormRefused)
    async def form_refused(request: Request, _: FormRefused) -> Response:
        message = "This form is from another session or another site. Reload the page."
        return render(request, "error.html", status_code=403, title="Refused", message=message)
