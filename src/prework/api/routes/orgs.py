"""``/api/orgs/current``: the caller's organization."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from prework.api.auth import Ctx, CurrentPrincipal
from prework.api.deps import StoreDep
from prework.api.routes._versioning import expected_version, set_etag
from prework.api.schemas.identity import OrganizationRead, OrganizationUpdate
from prework.errors import ValidationFailed
from prework.services import orgs as orgs_service

router = APIRouter(prefix="/api/orgs", tags=["organizations"])


@router.get("/current", summary="Your organization")
async def get_current_org(
    principal: CurrentPrincipal, store: StoreDep, ctx: Ctx, response: Response
) -> OrganizationRead:
    org = await orgs_service.get_current(store, principal=principal, ctx=ctx)
    set_etag(response, org.version)
    return OrganizationRead.of(org)


@router.patch("/current", summary="Change your organization (owner/admin)")
async def update_current_org(
    body: OrganizationUpdate,
    principal: CurrentPrincipal,
    store: StoreDep,
    ctx: Ctx,
    request: Request,
    response: Response,
) -> OrganizationRead:
    fields = body.model_fields_set - {"version"}
    if "name" in fields and body.name is None:
        raise ValidationFailed(
            "name cannot be cleared.",
            details={"fields": [{"loc": ["body", "name"], "message": "cannot be null"}]},
        )
    changes: dict[str, Any] = {name: getattr(body, name) for name in fields}
    org = await orgs_service.update_current(
        store,
        principal=principal,
        ctx=ctx,
        changes=changes,
        expected_version=expected_version(request, body.version),
    )
    set_etag(response, org.version)
    return OrganizationRead.of(org)
