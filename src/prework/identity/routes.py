"""``/api/auth``: register, log in, refresh, log out, who am I, accept an invitation."""

from __future__ import annotations

from fastapi import APIRouter, status

from prework.api.auth import Ctx, CurrentPrincipal, IdentityDep
from prework.api.schemas.identity import (
    AuthRead,
    InvitationAccept,
    LoginCreate,
    MeRead,
    OrganizationRead,
    RefreshCreate,
    RegisterCreate,
    TokenRead,
    UserRead,
)
from prework.domain.permissions import MATRIX
from prework.services.auth import AuthResult, IssuedTokens

router = APIRouter(prefix="/api/auth", tags=["auth"])


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


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    summary="Create an organization and its first user (owner); logs in",
)
async def register(body: RegisterCreate, identity: IdentityDep, ctx: Ctx) -> AuthRead:
    result = await identity.auth.register(
        ctx=ctx,
        organization_name=body.organization_name,
        email=body.email,
        password=body.password,
        display_name=body.display_name,
    )
    return _auth_read(result)


@router.post("/login", summary="Exchange email and password for tokens")
async def login(body: LoginCreate, identity: IdentityDep, ctx: Ctx) -> AuthRead:
    return _auth_read(await identity.auth.login(ctx=ctx, email=body.email, password=body.password))


@router.post("/refresh", summary="Rotate the refresh token; get a new access token")
async def refresh(body: RefreshCreate, identity: IdentityDep, ctx: Ctx) -> TokenRead:
    tokens = await identity.auth.refresh(ctx=ctx, refresh_token=body.refresh_token)
    return TokenRead(**_tokens(tokens))


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke the current session (its access and refresh tokens)",
)
async def logout(principal: CurrentPrincipal, identity: IdentityDep, ctx: Ctx) -> None:
    await identity.auth.logout(principal=principal, ctx=ctx)


@router.get("/me", summary="The caller: user, organization, session and permissions")
async def me(principal: CurrentPrincipal, identity: IdentityDep) -> MeRead:
    user, org = await identity.auth.me(principal=principal)
    return MeRead(
        user=UserRead.of(user),
        organization=OrganizationRead.of(org),
        session_id=principal.session_id,
        permissions=sorted(a.value for a, roles in MATRIX.items() if principal.role in roles),
    )


@router.post(
    "/accept-invitation",
    status_code=status.HTTP_201_CREATED,
    summary="Accept an invitation: set a password, join the organization; logs in",
)
async def accept_invitation(body: InvitationAccept, identity: IdentityDep, ctx: Ctx) -> AuthRead:
    result = await identity.auth.accept_invitation(
        ctx=ctx, token=body.token, password=body.password, display_name=body.display_name
    )
    return _auth_read(result)
