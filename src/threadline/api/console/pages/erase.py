"""Erasing one end user's data in a tenant: counted first (a dry run), then erased, with the
receipt shown (engine/erasure.py does the work and records it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from threadline.api.console.fields import confirmed, field
from threadline.api.console.guard import (
    ACTOR,
    ConsoleRoute,
    FormDep,
    Operator,
    OperatorDep,
)
from threadline.api.console.rendering import render
from threadline.engine.api_keys import OPEN_TENANT
from threadline.engine.end_users import EndUser
from threadline.engine.erasure import Erasure
from threadline.errors import InvalidRequest

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

FIELDS = ("user", "safety_identifier", "metadata")


async def _erase_page(request: Request, operator: Operator, **shown: Any) -> Response:
    values: dict[str, Any] = {
        "tenant": OPEN_TENANT,
        "chosen": "user",
        "value": "",
        "metadata_key": "",
        **shown,
    }
    return render(
        request,
        "erase.html",
        title="Erase",
        op=operator,
        tenants=await operator.tenants(),
        fields=FIELDS,
        **values,
    )


@router.get("/erase")
async def erase_page(
    request: Request, operator: OperatorDep, tenant: str = OPEN_TENANT
) -> Response:
    return await _erase_page(request, operator, tenant=tenant)


@router.post("/erase")
async def erase(request: Request, operator: OperatorDep, form: FormDep) -> Response:
    tenant = field(form, "tenant") or OPEN_TENANT
    chosen = field(form, "field")
    value = field(form, "value")
    metadata_key = field(form, "metadata_key")
    if chosen not in FIELDS:
        raise InvalidRequest("Name the end user by user, safety_identifier or metadata.")
    if not value:
        raise InvalidRequest("Which end user? The value is empty.", param="value")
    if chosen == "metadata":
        if not metadata_key:
            raise InvalidRequest("Name the metadata key.", param="metadata_key")
        who = EndUser("metadata", value, metadata_key)
    else:
        who = EndUser(chosen, value)  # type: ignore[arg-type]
    dry_run = field(form, "action") != "erase"
    if not dry_run:
        confirmed(form, "erasing")
    services = operator.services
    # The ledger rows this process still holds would be written after the erasure, with the
    # end user's name in them: written first, they are found and made anonymous with the rest.
    await services.meter.flush()
    receipt = await Erasure(services.store).erase_recorded(tenant, who, ACTOR, dry_run=dry_run)
    return await _erase_page(
        request,
        operator,
        tenant=tenant,
        chosen=chosen,
        value=value,
        metadata_key=metadata_key,
        receipt=receipt,
    )


@router.post("/erase-tenant")
async def erase_tenant(request: Request, operator: OperatorDep, form: FormDep) -> Response:
    """A whole tenant: counted, or erased once its name is typed again to confirm."""
    tenant = field(form, "tenant")
    if not tenant:
        raise InvalidRequest("Which tenant? The name is empty.", param="tenant")
    dry_run = field(form, "action") != "erase"
    if not dry_run and field(form, "confirm_tenant") != tenant:
        raise InvalidRequest(
            f"Type the tenant's name ({tenant}) to confirm: erasing it cannot be undone.",
            param="confirm_tenant",
        )
    services = operator.services
    await services.meter.flush()  # as above: no ledger row of this process written after
    receipt = await services.tenant_erasure.erase_tenant(tenant, ACTOR, dry_run=dry_run)
    services.auth.forget_cached()  # its revoked keys stop here at once
    return await _erase_page(request, operator, tenant_receipt=receipt)
