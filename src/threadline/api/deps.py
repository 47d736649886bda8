"""Request-scoped dependencies: the services and the caller's tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from threadline.api.sse import TurnTasks
from threadline.wiring import Services


def services(request: Request) -> Services:
    result: Services = request.app.state.services
    return result


def turn_tasks(request: Request) -> TurnTasks:
    result: TurnTasks = request.app.state.turn_tasks
    return result


async def tenant(request: Request) -> str:
    return await services(request).auth.tenant_for(request.headers.get("authorization"))


ServicesDep = Annotated[Services, Depends(services)]
TenantDep = Annotated[str, Depends(tenant)]
TurnTasksDep = Annotated[TurnTasks, Depends(turn_tasks)]
