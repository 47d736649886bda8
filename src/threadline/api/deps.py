"""Request-scoped dependencies: the services and the caller's tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from threadline.api.sse import TurnTasks
from threadline.engine.api_keys import Caller
from threadline.wiring import Services

_CALLER = "threadline.caller"

# Dependencies are `async def` although they never await: FastAPI runs a plain `def`
# dependency in its thread pool, a thread hop on every request for nothing.


async def services(request: Request) -> Services:
    result: Services = request.app.state.services
    return result


async def turn_tasks(request: Request) -> TurnTasks:
    result: TurnTasks = request.app.state.turn_tasks
    return result


async def caller(request: Request) -> Caller:
    """Who the request is from, resolved once per request (`tenant` and `key_default_store`
    both need it)."""
    found: Caller | None = request.scope.get(_CALLER)
    if found is None:
        auth = (await services(request)).auth
        found = await auth.caller_for(request.headers.get("authorization"))
        request.scope[_CALLER] = found
    return found


async def tenant(request: Request) -> str:
    return (await caller(request)).tenant


async def provider_key(request: Request) -> str | None:
    """The caller's own key for the model provider (bring-your-own-key mode), else None."""
    auth = (await services(request)).auth
    return auth.provider_key(request.headers.get("authorization"))


async def key_default_store(request: Request) -> bool | None:
    """What the caller's API key says an omitted `store` means (None: the tenant's default)."""
    return (await caller(request)).default_store


CallerDep = Annotated[Caller, Depends(caller)]
ServicesDep = Annotated[Services, Depends(services)]
KeyDefaultStoreDep = Annotated[bool | None, Depends(key_default_store)]
ProviderKeyDep = Annotated[str | None, Depends(provider_key)]
TenantDep = Annotated[str, Depends(tenant)]
TurnTasksDep = Annotated[TurnTasks, Depends(turn_tasks)]
