"""``/api/profiles``: your own profile; the profiles of your organization's members."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from prework.api.auth import Ctx, CurrentPrincipal
from prework.api.deps import StoreDep
from prework.api.routes._versioning import expected_version, patch_changes, set_etag
from prework.api.schemas.identity import PathId, ProfileRead, ProfileUpdate
from prework.services import profiles as profiles_service

router = APIRouter(prefix="/api/profiles", tags=["profiles"])


@router.get("/me", summary="Your profile")
async def get_own_profile(
    principal: CurrentPrincipal, store: StoreDep, ctx: Ctx, response: Response
) -> ProfileRead:
    profile = await profiles_service.get_own(store, principal=principal, ctx=ctx)
    set_etag(response, profile.version)
    return ProfileRead.of(profile)


@router.patch("/me", summary="Change your profile (fields sent as null are cleared)")
async def update_own_profile(
    body: ProfileUpdate,
    principal: CurrentPrincipal,
    store: StoreDep,
    ctx: Ctx,
    request: Request,
    response: Response,
) -> ProfileRead:
    changes = patch_changes(body, required="display_name")
    if "certifications" in changes:
        changes["certifications"] = [c.to_domain() for c in body.certifications or []]
    profile = await profiles_service.update_own(
        store,
        principal=principal,
        ctx=ctx,
        changes=changes,
        expected_version=expected_version(request, body.version),
    )
    set_etag(response, profile.version)
    return ProfileRead.of(profile)


@router.get("/{user_id}", summary="A member's profile (owner/admin/supervisor/auditor)")
async def get_profile(
    user_id: PathId, principal: CurrentPrincipal, store: StoreDep, ctx: Ctx, response: Response
) -> ProfileRead:
    profile = await profiles_service.get(store, principal=principal, ctx=ctx, user_id=user_id)
    set_etag(response, profile.version)
    return ProfileRead.of(profile)
