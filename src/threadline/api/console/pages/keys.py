"""API keys of every tenant: created with their limits (the secret shown once), revoked."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse

from threadline.api.console.guard import ACTOR, ConsoleRoute, FormDep, Operator, OperatorDep, field
from threadline.api.console.rendering import render
from threadline.engine.api_keys import create_key
from threadline.errors import InvalidRequest, NotFound
from threadline.storage.usage import KeyLimits, KeyQuota

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

DAY = 86400.0


def _number(form: FormData, name: str, *, whole: bool, least: float) -> float | None:
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


def limits_from(form: FormData, now: float) -> KeyLimits:
    """The limits a key form asks for (an empty field: no limit)."""
    rpm = _number(form, "rpm", whole=True, least=1)
    tpm = _number(form, "tpm", whole=True, least=1)
    expires_days = _number(form, "expires_days", whole=False, least=0.001)
    models = tuple(m.strip() for m in field(form, "models").split(",") if m.strip())
    return KeyLimits(
        expires_at=None if expires_days is None else now + expires_days * DAY,
        models=models or None,
        quota=KeyQuota(
            requests_per_minute=None if rpm is None else int(rpm),
            tokens_per_minute=None if tpm is None else int(tpm),
            daily_budget=_number(form, "daily_budget", whole=False, least=0),
            monthly_budget=_number(form, "monthly_budget", whole=False, least=0),
        ),
    )


async def _keys_page(
    request: Request, operator: Operator, *, created: tuple[str, str] | None = None
) -> Response:
    keys = await operator.services.store.list_api_keys()
    keys.sort(key=lambda k: (k.revoked_at is not None, k.tenant, k.name))
    return render(
        request,
        "keys.html",
        title="API keys",
        op=operator,
        keys=keys,
        created=created,
        now=time.time(),
    )


@router.get("/keys")
async def keys(request: Request, operator: OperatorDep) -> Response:
    return await _keys_page(request, operator)


@router.post("/keys")
async def create(request: Request, operator: OperatorDep, form: FormDep) -> Response:
    """A new key. Its secret is in this answer only: the store keeps a hash."""
    name = field(form, "name")
    if not name:
        raise InvalidRequest("A key needs a name.", param="name")
    limits = limits_from(form, time.time())
    store = operator.services.store
    new = await create_key(store, name, field(form, "tenant") or None, limits=limits)
    record = new.record
    await operator.services.audit.record(
        record.tenant, ACTOR, "api_key.created", record.id, name=name, **limits.to_json()
    )
    return await _keys_page(request, operator, created=(record.name, new.secret))


@router.post("/keys/{key_id}/revoke")
async def revoke(operator: OperatorDep, form: FormDep, key_id: str) -> Response:
    store = operator.services.store
    found = [k for k in await store.list_api_keys() if k.id == key_id and k.revoked_at is None]
    if not found or not await store.revoke_api_key(key_id, time.time()):
        raise NotFound(f"No active key has the id '{key_id}'.")
    operator.services.auth.forget_cached()
    await operator.services.audit.record(found[0].tenant, ACTOR, "api_key.revoked", key_id)
    return RedirectResponse("/console/keys", 303)
