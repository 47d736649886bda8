"""API keys of every tenant: created with their limits (the secret shown once), their limits
changed, revoked."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse

from threadline.api.console.fields import DAY, date_of, day_start, field, number
from threadline.api.console.guard import ConsoleRoute, FormDep, Operator, OperatorDep
from threadline.api.console.rendering import render
from threadline.engine.api_keys import create_key
from threadline.errors import InvalidRequest, NotFound
from threadline.storage.usage import KeyLimits, KeyQuota

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)


def limits_from(form: FormData) -> KeyLimits:
    """The limits a key form asks for (an empty field: no limit). A key expires at the end of
    the day its form names (UTC)."""
    rpm = number(form, "rpm", whole=True, least=1)
    tpm = number(form, "tpm", whole=True, least=1)
    expires_on = day_start(field(form, "expires_on"), "expires_on")
    models = tuple(m.strip() for m in field(form, "models").split(",") if m.strip())
    return KeyLimits(
        expires_at=None if expires_on is None else expires_on + DAY,
        models=models or None,
        quota=KeyQuota(
            requests_per_minute=None if rpm is None else int(rpm),
            tokens_per_minute=None if tpm is None else int(tpm),
            daily_budget=number(form, "daily_budget", whole=False, least=0),
            monthly_budget=number(form, "monthly_budget", whole=False, least=0),
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
        date_of=date_of,
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
    limits = limits_from(form)
    store = operator.services.store
    new = await create_key(store, name, field(form, "tenant") or None, limits=limits)
    record = new.record
    await operator.record(
        record.tenant, "api_key.created", record.id, name=name, **limits.to_json()
    )
    return await _keys_page(request, operator, created=(record.name, new.secret))


@router.post("/keys/{key_id}/revoke")
async def revoke(operator: OperatorDep, form: FormDep, key_id: str) -> Response:
    store = operator.services.store
    found = [k for k in await store.list_api_keys() if k.id == key_id and k.revoked_at is None]
    if not found or not await store.revoke_api_key(key_id, time.time()):
        raise NotFound(f"No active key has the id '{key_id}'.")
    operator.services.auth.forget_cached()
    await operator.record(found[0].tenant, "api_key.revoked", key_id)
    return RedirectResponse("/console/keys", 303)


@router.post("/keys/{key_id}/limits")
async def change_limits(
    request: Request, operator: OperatorDep, form: FormDep, key_id: str
) -> Response:
    """The key's limits, all of them as the form now says (an emptied field: no limit)."""
    services = operator.services
    live = [k for k in await services.store.list_api_keys() if k.id == key_id and not k.revoked_at]
    limits = limits_from(form)
    if not live or not await services.store.set_api_key_limits(key_id, limits):
        raise NotFound(f"No active key has the id '{key_id}'.")
    services.auth.forget_cached()
    await operator.record(live[0].tenant, "api_key.updated", key_id, **limits.to_json())
    return RedirectResponse("/console/keys", 303)
