"""The identity area's routes: ``/api/auth``, ``/api/users``, ``/api/profiles``, ``/api/orgs``.

:data:`router` holds them all (what :mod:`prework.app` mounts).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request, Response, status

from prework.authz.matrix import allowed_actions
from prework.core.principal import Role
from prework.http.deps import area_services
from prework.http.openapi import answers
from prework.http.pages import page_answer
from prework.http.routing import APIRouter
from prework.http.schemas import Cursor, Limit, Page, PathId, VersionBody
from prework.http.security import Ctx, CurrentPrincipal
from prework.http.versioning import expected_version, patch_changes, set_etag
from prework.identity.models import User, UserStatus
from prework.identity.schemas import (
    AuthRead,
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    InvitationRead,
    LoginCreate,
    MeRead,
    OrganizationRead,
    OrganizationUpdate,
    ProfileRead,
    ProfileUpdate,
    RefreshCreate,
    RegisterCreate,
    TokenRead,
    UserRead,
    UserUpdate,
)
from prework.identity.services import Identity
from prework.identity.sessions import AuthResult, IssuedTokens

# the page models of this module's listings (parametrized once, not per request)
UserPage = Page[UserRead]
InvitationPage = Page[InvitationRead]

__all__ = ["router"]

IdentityDep = Annotated[Identity, Depends(area_services("identity", Identity))]

auth = APIRouter(prefix="/api/auth", tags=["auth"])
users = APIRouter(prefix="/api/users", tags=["users"])
profiles = APIRouter(prefix="/api/profiles", tags=["profiles"])
orgs = APIRouter(prefix="/api/orgs", tags=["organizations"])


# --------------------------------------------------------------------------- /api/auth
def _tokens(tokens: IssuedTokens) -> dict[str, object]:
    return {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_in": tokens.expires_in,
        "refresh_expires_in": tokens.refresh_expires_in,
        "session_id": tokens.session_id,
    }


def _auth_read(result: AuthResult) -> AuthRead:
    return AuthRead(
        **_tokens(result.tokens),
        user=UserRead.of(result.user),
        organization=OrganizationRead.of(result.organization),
    )


@auth.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    summary="Create an organization and its first user (owner); logs in",
    responses=answers(429),
)
async def register(body: RegisterCreate, identity: IdentityDep, ctx: Ctx) -> AuthRead:
    result = await identity.registration.register(
        ctx=ctx,
        organization_name=body.organization_name,
        email=body.email,
        password=body.password,
        display_name=body.display_name,
    )
    return _auth_read(result)


@auth.post("/login", summary="Exchange email and password for tokens", responses=answers(401, 429))
async def login(body: LoginCreate, identity: IdentityDep, ctx: Ctx) -> AuthRead:
    result = await identity.sessions.login(ctx=ctx, email=body.email, password=body.password)
    return _auth_read(result)


@auth.post(
    "/refresh",
    summary="Rotate the refresh token; get a new access token",
    responses=answers(401),
)
async def refresh(body: RefreshCreate, identity: IdentityDep, ctx: Ctx) -> TokenRead:
    tokens = await identity.sessions.refresh(ctx=ctx, refresh_token=body.refresh_token)
    return TokenRead(**_tokens(tokens))


@auth.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke the current session (its access and refresh tokens)",
)
async def logout(principal: CurrentPrincipal, identity: IdentityDep, ctx: Ctx) -> None:
    await identity.sessions.logout(principal=principal, ctx=ctx)


@auth.get("/me", summary="The caller: user, organization, session and permissions")
async def me(principal: CurrentPrincipal, identity: IdentityDep) -> MeRead:
    user, org = await identity.sessions.me(principal=principal)
    return MeRead(
        user=UserRead.of(user),
        organization=OrganizationRead.of(org),
        session_id=principal.session_id,
        permissions=allowed_actions(principal.role),
    )


@auth.post(
    "/accept-invitation",
    status_code=status.HTTP_201_CREATED,
    summary="Accept an invitation: set a password, join the organization; logs in",
    responses=answers(404, 429),
)
async def accept_invitation(body: InvitationAccept, identity: IdentityDep, ctx: Ctx) -> AuthRead:
    result = await identity.invitations.accept(
        ctx=ctx, token=body.token, password=body.password, display_name=body.display_name
    )
    return _auth_read(result)


# --------------------------------------------------------------------------- /api/users
@users.get("", response_model=UserPage, summary="List members (filter by role and/or status)")
async def list_users(
    principal: CurrentPrincipal,
    identity: IdentityDep,
    ctx: Ctx,
    role: Role | None = None,
    status: UserStatus | None = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Response:
    page = await identity.users.list(
        principal=principal, ctx=ctx, role=role, status=status, limit=limit, cursor=cursor
    )
    return page_answer(UserPage, page)


# invitations come before /{user_id} so that "invitations" is never taken for an id
@users.post(
    "/invitations",
    status_code=status.HTTP_201_CREATED,
    summary="Invite someone by email (owner/admin); the token is shown once",
)
async def create_invitation(
    body: InvitationCreate, principal: CurrentPrincipal, identity: IdentityDep, ctx: Ctx
) -> InvitationCreated:
    issued = await identity.invitations.invite(
        principal=principal,
        ctx=ctx,
        email=body.email,
        role=body.role,
        days=body.expires_in_days,
    )
    read = InvitationRead.of(issued.invitation)
    return InvitationCreated(**read.model_dump(), token=issued.token)


@users.get("/invitations", response_model=InvitationPage, summary="List unexpired invitations")
async def list_invitations(
    principal: CurrentPrincipal,
    identity: IdentityDep,
    ctx: Ctx,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Response:
    page = await identity.invitations.list(principal=principal, ctx=ctx, limit=limit, cursor=cursor)
    return page_answer(InvitationPage, page)


@users.delete("/invitations/{invitation_id}", summary="Revoke a pending invitation")
async def revoke_invitation(
    invitation_id: PathId, principal: CurrentPrincipal, identity: IdentityDep, ctx: Ctx
) -> InvitationRead:
    invitation = await identity.invitations.revoke(
        principal=principal, ctx=ctx, invitation_id=invitation_id
    )
    return InvitationRead.of(invitation)


def _user_read(response: Response, user: User) -> UserRead:
    set_etag(response, user.version)
    return UserRead.of(user)


@users.get("/{user_id}", summary="One member")
async def get_user(
    user_id: PathId,
    principal: CurrentPrincipal,
    identity: IdentityDep,
    ctx: Ctx,
    response: Response,
) -> UserRead:
    user = await identity.users.get(principal=principal, ctx=ctx, user_id=user_id)
    return _user_read(response, user)


@users.patch("/{user_id}", summary="Change a member's role (owner/admin)")
async def update_user(
    user_id: PathId,
    body: UserUpdate,
    principal: CurrentPrincipal,
    identity: IdentityDep,
    ctx: Ctx,
    request: Request,
    response: Response,
) -> UserRead:
    user = await identity.users.change_role(
        principal=principal,
        ctx=ctx,
        user_id=user_id,
        role=body.role,
        expected_version=expected_version(request, body.version),
    )
    return _user_read(response, user)


def _status_route(verb: str, status: UserStatus, summary: str) -> None:
    """``POST /api/users/{user_id}/<verb>``: move a member to ``status``."""

    @users.post(f"/{{user_id}}/{verb}", summary=summary, name=f"{verb}_user")
    async def change_status(
        user_id: PathId,
        principal: CurrentPrincipal,
        identity: IdentityDep,
        ctx: Ctx,
        request: Request,
        response: Response,
        body: VersionBody | None = None,
    ) -> UserRead:
        user = await identity.users.set_status(
            principal=principal,
            ctx=ctx,
            user_id=user_id,
            status=status,
            expected_version=expected_version(request, body.version if body else None),
        )
        return _user_read(response, user)


_status_route("deactivate", UserStatus.DEACTIVATED, "Deactivate a member (owner/admin)")
_status_route("reactivate", UserStatus.ACTIVE, "Reactivate a member (owner/admin)")


@users.post(
    "/{user_id}/certifications/{name}/verify",
    summary="Verify a member's certification, matched case-folded (owner/admin/supervisor)",
)
async def verify_certification(
    user_id: PathId,
    name: Annotated[str, Path(min_length=1, max_length=120)],
    principal: CurrentPrincipal,
    identity: IdentityDep,
    ctx: Ctx,
    request: Request,
    response: Response,
    body: VersionBody | None = None,
) -> ProfileRead:
    profile = await identity.profiles.verify_certification(
        principal=principal,
        ctx=ctx,
        user_id=user_id,
        name=name,
        expected_version=expected_version(request, body.version if body else None),
    )
    set_etag(response, profile.version)
    return ProfileRead.of(profile)


# --------------------------------------------------------------------------- /api/profiles
@profiles.get("/me", summary="Your profile")
async def get_own_profile(
    principal: CurrentPrincipal, identity: IdentityDep, ctx: Ctx, response: Response
) -> ProfileRead:
    profile = await identity.profiles.get_own(principal=principal, ctx=ctx)
    set_etag(response, profile.version)
    return ProfileRead.of(profile)


@profiles.patch(
    "/me",
    summary="Change your profile (fields sent as null are cleared)",
    responses=answers(404),  # avatar_media_id names no ready avatar of yours: media_not_found
)
async def update_own_profile(
    body: ProfileUpdate,
    principal: CurrentPrincipal,
    identity: IdentityDep,
    ctx: Ctx,
    request: Request,
    response: Response,
) -> ProfileRead:
    changes = patch_changes(body, required="display_name")
    if "certifications" in changes:
        changes["certifications"] = [c.to_domain() for c in body.certifications or []]
    profile = await identity.profiles.update_own(
        principal=principal,
        ctx=ctx,
        changes=changes,
        expected_version=expected_version(request, body.version),
    )
    set_etag(response, profile.version)
    return ProfileRead.of(profile)


@profiles.get("/{user_id}", summary="A member's profile (owner/admin/supervisor/auditor)")
async def get_profile(
    user_id: PathId,
    principal: CurrentPrincipal,
    identity: IdentityDep,
    ctx: Ctx,
    response: Response,
) -> ProfileRead:
    profile = await identity.profiles.get(principal=principal, ctx=ctx, user_id=user_id)
    set_etag(response, profile.version)
    return ProfileRead.of(profile)


# --------------------------------------------------------------------------- /api/orgs
@orgs.get("/current", summary="Your organization")
async def get_current_org(
    principal: CurrentPrincipal, identity: IdentityDep, ctx: Ctx, response: Response
) -> OrganizationRead:
    org = await identity.orgs.get_current(principal=principal, ctx=ctx)
    set_etag(response, org.version)
    return OrganizationRead.of(org)


@orgs.patch("/current", summary="Change your organization (owner/admin)")
async def update_current_org(
    body: OrganizationUpdate,
    principal: CurrentPrincipal,
    identity: IdentityDep,
    ctx: Ctx,
    request: Request,
    response: Response,
) -> OrganizationRead:
    org = await identity.orgs.update_current(
        principal=principal,
        ctx=ctx,
        changes=patch_changes(body, required="name"),
        expected_version=expected_version(request, body.version),
    )
    set_etag(response, org.version)
    return OrganizationRead.of(org)


router = APIRouter()
for _part in (auth, users, profiles, orgs):
    router.include_router(_part)
