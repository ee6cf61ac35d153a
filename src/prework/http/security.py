"""Identity wiring for the HTTP layer: services on ``app.state``, the principal, the context.

* :func:`identity_lifespan` builds the identity services when the app starts
  (the password hasher's threads, the token keys) and puts them on
  ``app.state.identity``. Resolving the signing key there means a server on
  AWS engines without ``PREWORK_SECRET_KEY`` refuses to start.
* ``CurrentPrincipal``: the authenticated caller. The bearer token's
  signature and expiry are checked, then the session item and the user item
  are read (concurrently, no cache) so a logout, a revoked session or a
  deactivated user is refused on the very next request.
* ``Ctx``: request id, client address and user agent, for the audit log.
  The client address is the peer of the connection; behind a proxy, run
  uvicorn with ``--proxy-headers --forwarded-allow-ips=<proxy>`` so it is the
  real client's.

Authentication is by ``Authorization: Bearer <access token>`` only; no cookie
is ever read or set, so there is no CSRF surface. The scheme is declared to
OpenAPI (:data:`bearer_scheme`, so ``/docs`` offers "Authorize"), but the
header is read and judged by :func:`bearer_token`, which answers missing and
malformed headers with Prework's own error codes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from prework.api.errors import request_id_of
from prework.bootstrap import derive_key, previous_secret_keys, resolve_secret_key
from prework.config import Settings
from prework.domain.identity import Principal, RequestContext
from prework.errors import Unauthenticated
from prework.services.auth import AuthPolicy, AuthService
from prework.services.passwords import HashParams, Passwords
from prework.services.ratelimit import Limit
from prework.services.tokens import ACCESS_TOKEN_PURPOSE, KeyRing, TokenService
from prework.store.base import Store

__all__ = [
    "Ctx",
    "CurrentPrincipal",
    "Identity",
    "IdentityDep",
    "bearer_scheme",
    "build_identity",
    "current_principal",
    "get_identity",
    "identity_lifespan",
    "request_context",
]

_MAX_AUTHORIZATION = 8192


@dataclass(frozen=True, slots=True)
class Identity:
    """The identity services of one app."""

    auth: AuthService
    passwords: Passwords
    tokens: TokenService


def hash_params(settings: Settings) -> HashParams:
    return HashParams(
        time_cost=settings.password_hash_time_cost,
        memory_kib=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
    )


def build_identity(settings: Settings, store: Store) -> Identity:
    """Identity services from settings. Raises ``ConfigError`` without a usable secret."""
    keys = KeyRing(
        derive_key(resolve_secret_key(settings), ACCESS_TOKEN_PURPOSE),
        [derive_key(old, ACCESS_TOKEN_PURPOSE) for old in previous_secret_keys(settings)],
    )
    tokens = TokenService(keys, access_ttl=settings.access_token_ttl_seconds)
    passwords = Passwords(hash_params(settings), threads=settings.password_hash_threads)
    policy = AuthPolicy(
        access_ttl=settings.access_token_ttl_seconds,
        refresh_ttl=settings.refresh_token_ttl_seconds,
        login_per_account=Limit(
            "login-account", settings.login_max_failures_per_account, settings.login_window_seconds
        ),
        login_per_address=Limit(
            "login-address", settings.login_max_failures_per_address, settings.login_window_seconds
        ),
        register_per_address=Limit(
            "register-address", settings.register_max_per_address, settings.register_window_seconds
        ),
    )
    auth = AuthService(store, passwords=passwords, tokens=tokens, policy=policy)
    return Identity(auth=auth, passwords=passwords, tokens=tokens)


@asynccontextmanager
async def identity_lifespan(app: FastAPI) -> AsyncIterator[None]:
    identity = build_identity(app.state.settings, app.state.store)
    app.state.identity = identity
    try:
        await identity.passwords.warm_up()
        yield
    finally:
        identity.passwords.close()


async def get_identity(conn: HTTPConnection) -> Identity:
    identity = getattr(conn.app.state, "identity", None)
    if identity is None:  # an app served without its lifespan (some test clients)
        identity = build_identity(conn.app.state.settings, conn.app.state.store)
        conn.app.state.identity = identity
    assert isinstance(identity, Identity)
    return identity


IdentityDep = Annotated[Identity, Depends(get_identity)]


async def request_context(conn: HTTPConnection) -> RequestContext:
    return RequestContext(
        request_id=request_id_of(conn.scope),
        client_ip=conn.client.host if conn.client else None,
        user_agent=conn.headers.get("user-agent"),
    )


Ctx = Annotated[RequestContext, Depends(request_context)]


def bearer_token(conn: HTTPConnection) -> str:
    """The token of ``Authorization: Bearer <token>``; 401 ``unauthenticated`` if absent."""
    header = conn.headers.get("authorization")
    if not header:
        raise Unauthenticated("An access token is required (Authorization: Bearer ...).")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(header) > _MAX_AUTHORIZATION:
        raise Unauthenticated(
            "The Authorization header must be 'Bearer <access token>'.", code="invalid_token"
        )
    return token


# Declares the scheme to OpenAPI only: auto_error=False, so it never answers a
# request itself (FastAPI's own 401/403 would bypass the error envelope).
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT",
    description="An access token from /api/auth/login, /register, /refresh or "
    "/accept-invitation (valid 15 minutes).",
)


async def current_principal(
    conn: HTTPConnection,
    identity: IdentityDep,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Principal:
    return await identity.auth.authenticate(bearer_token(conn))


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
