"""Signing in with the admin key, and out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.responses import RedirectResponse

from threadline.api.console.fields import field
from threadline.api.console.guard import ConsoleRoute, FormDep, sessions_of
from threadline.api.console.rendering import render
from threadline.api.console.session import COOKIE, PATH

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

HOME = "/console/conversations"


def _back_to(target: str) -> str:
    """Where to go after signing in: a console page, never another site (`//host`)."""
    if target.startswith("/console") and not target.startswith("//"):
        return target
    return HOME


@router.get("")
async def home() -> Response:
    return RedirectResponse(HOME, 303)


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str = HOME) -> Response:
    sessions_of(request)  # a closed console says so before asking for a key
    return render(request, "sign_in.html", title="Sign in", next=_back_to(next))


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    sessions = sessions_of(request)
    form = await request.form()
    if not sessions.key_matches(field(form, "admin_key")):
        return render(
            request,
            "sign_in.html",
            status_code=401,
            title="Sign in",
            next=_back_to(field(form, "next")),
            refused="That is not the admin key.",
        )
    answer = RedirectResponse(_back_to(field(form, "next")), 303)
    answer.set_cookie(
        COOKIE,
        sessions.new_cookie(),
        max_age=sessions.lifetime_seconds,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return answer


@router.post("/sign-out")
async def sign_out(_: FormDep) -> Response:
    answer = RedirectResponse("/console/sign-in", 303)
    answer.delete_cookie(COOKIE, path=PATH)
    return answer
