"""``/api/profiles``: your own profile; the profiles of your organization's members."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from prework.api.auth import Ctx, CurrentPrincipal
from prework.api.deps import StoreDep
from prework.api.routes._versioning import expected_version, set_etag
from prework.api.schemas.identity import PathId, ProfileRead, ProfileUpdate
from prework.errors import ValidationFailed
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
    fields = body.model_fields_set - {"version"}
    if "display_name" in fields and body.display_name is None:
        raise ValidationFailed(
            "display_name cannot be cleared.",
            details={"fields": [{"loc": ["body", "display_name"], "message": "cannot be null"}]},
        )
    changes: dict[str, Any] = {name: getattr(body, name) for name in fields}
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
