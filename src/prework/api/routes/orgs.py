"""``/api/orgs/current``: the caller's organization."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from prework.api.auth import Ctx, CurrentPrincipal
from prework.api.deps import StoreDep
from prework.api.routes._versioning import expected_version, patch_changes, set_etag
from prework.api.schemas.identity import OrganizationRead, OrganizationUpdate
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
    changes = patch_changes(body, required="name")
    org = await orgs_service.update_current(
        store,
        principal=principal,
        ctx=ctx,
        changes=changes,
        expected_version=expected_version(request, body.version),
    )
    set_etag(response, org.version)
    return OrganizationRead.of(org)
