"""``/api/users``: members of the caller's organization, and invitations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from prework.api.auth import Ctx, CurrentPrincipal
from prework.api.deps import StoreDep
from prework.api.routes._versioning import expected_version, set_etag
from prework.api.schemas.identity import (
    InvitationCreate,
    InvitationCreated,
    InvitationRead,
    Page,
    PathId,
    UserRead,
    UserUpdate,
    VersionBody,
)
from prework.domain.identity import Role, UserStatus
from prework.services import users as users_service

router = APIRouter(prefix="/api/users", tags=["users"])

Limit = Annotated[int | None, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=2048)]


@router.get("", summary="List members (filter by role and/or status)")
async def list_users(
    principal: CurrentPrincipal,
    store: StoreDep,
    ctx: Ctx,
    role: Role | None = None,
    status: UserStatus | None = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Page[UserRead]:
    page = await users_service.list(
        store,
        principal=principal,
        ctx=ctx,
        role=role,
        status=status,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=[UserRead.of(u) for u in page.items], next_cursor=page.next_cursor)


# invitations come before /{user_id} so that "invitations" is never taken for an id
@router.post(
    "/invitations",
    status_code=status.HTTP_201_CREATED,
    summary="Invite someone by email (owner/admin); the token is shown once",
)
async def create_invitation(
    body: InvitationCreate, principal: CurrentPrincipal, store: StoreDep, ctx: Ctx
) -> InvitationCreated:
    issued = await users_service.invite(
        store,
        principal=principal,
        ctx=ctx,
        email=body.email,
        role=body.role,
        ttl_seconds=body.expires_in_days * 24 * 3600,
    )
    read = InvitationRead.of(issued.invitation)
    return InvitationCreated(**read.model_dump(), token=issued.token)


@router.get("/invitations", summary="List unexpired invitations")
async def list_invitations(
    principal: CurrentPrincipal,
    store: StoreDep,
    ctx: Ctx,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Page[InvitationRead]:
    page = await users_service.list_invitations(
        store, principal=principal, ctx=ctx, limit=limit, cursor=cursor
    )
    return Page(items=[InvitationRead.of(i) for i in page.items], next_cursor=page.next_cursor)


@router.delete("/invitations/{invitation_id}", summary="Revoke a pending invitation")
async def revoke_invitation(
    invitation_id: PathId, principal: CurrentPrincipal, store: StoreDep, ctx: Ctx
) -> InvitationRead:
    invitation = await users_service.revoke_invitation(
        store, principal=principal, ctx=ctx, invitation_id=invitation_id
    )
    return InvitationRead.of(invitation)


@router.get("/{user_id}", summary="One member")
async def get_user(
    user_id: PathId, principal: CurrentPrincipal, store: StoreDep, ctx: Ctx, response: Response
) -> UserRead:
    user = await users_service.get(store, principal=principal, ctx=ctx, user_id=user_id)
    set_etag(response, user.version)
    return UserRead.of(user)


@router.patch("/{user_id}", summary="Change a member's role (owner/admin)")
async def update_user(
    user_id: PathId,
    body: UserUpdate,
    principal: CurrentPrincipal,
    store: StoreDep,
    ctx: Ctx,
    request: Request,
    response: Response,
) -> UserRead:
    user = await users_service.change_role(
        store,
        principal=principal,
        ctx=ctx,
        user_id=user_id,
        role=body.role,
        expected_version=expected_version(request, body.version),
    )
    set_etag(response, user.version)
    return UserRead.of(user)


@router.post("/{user_id}/deactivate", summary="Deactivate a member (owner/admin)")
async def deactivate_user(
    user_id: PathId,
    principal: CurrentPrincipal,
    store: StoreDep,
    ctx: Ctx,
    request: Request,
    response: Response,
    body: VersionBody | None = None,
) -> UserRead:
    user = await users_service.deactivate(
        store,
        principal=principal,
        ctx=ctx,
        user_id=user_id,
        expected_version=expected_version(request, body.version if body else None),
    )
    set_etag(response, user.version)
    return UserRead.of(user)


@router.post("/{user_id}/reactivate", summary="Reactivate a member (owner/admin)")
async def reactivate_user(
    user_id: PathId,
    principal: CurrentPrincipal,
    store: StoreDep,
    ctx: Ctx,
    request: Request,
    response: Response,
    body: VersionBody | None = None,
) -> UserRead:
    user = await users_service.reactivate(
        store,
        principal=principal,
        ctx=ctx,
        user_id=user_id,
        expected_version=expected_version(request, body.version if body else None),
    )
    set_etag(response, user.version)
    return UserRead.of(user)
