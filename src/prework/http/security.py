"""Who is calling: the bearer token, the authenticated principal, the request context.

* ``CurrentPrincipal``: the authenticated caller. The bearer token's
  signature and expiry are checked, then the session item and the user item
  are read (concurrently, no cache) so a logout, a revoked session or a
  deactivated user is refused on the very next request.
* ``Ctx``: request id, client address and user agent, for the audit log.
  The client address is the peer of the connection; behind a proxy, set
  ``PREWORK_TRUSTED_PROXIES`` so it is the real client's.

Authentication is by ``Authorization: Bearer <access token>`` only; no cookie
is ever read or set, so there is no CSRF surface. The scheme is declared to
OpenAPI (:data:`bearer_scheme`, so ``/docs`` offers "Authorize"), but the
header is read and judged by :func:`bearer_token`, which answers missing and
malformed headers with Prework's own error codes.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from fastapi import Depends, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection, Request

from prework.core.principal import Principal, RequestContext
from prework.errors import BadRequest, Unauthenticated
from prework.http.deps import authenticator
from prework.http.errors import request_id_of
from prework.http.handler import before_body

__all__ = [
    "IDEMPOTENCY_HEADER",
    "Ctx",
    "CurrentPrincipal",
    "bearer_scheme",
    "bearer_token",
    "current_principal",
    "idempotency_key_of",
    "request_context",
]

_MAX_AUTHORIZATION = 8192


IDEMPOTENCY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}", re.ASCII)


def _header(conn: HTTPConnection, name: bytes) -> str | None:
    """The first header ``name`` (lower case) of the request, as ``conn.headers.get``
    gives it (latin-1), without building Starlette's ``Headers``."""
    for key, value in conn.scope["headers"]:
        if key == name:
            found: str = value.decode("latin-1")
            return found
    return None


_IDEMPOTENCY: Final = IDEMPOTENCY_HEADER.lower().encode("latin-1")


def idempotency_key_of(conn: HTTPConnection) -> str | None:
    """The request's ``Idempotency-Key`` (1..255 visible ASCII); None without one.
    Raises 400 ``invalid_idempotency_key`` for a malformed one."""
    key = _header(conn, _IDEMPOTENCY)
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise BadRequest(
            f"{IDEMPOTENCY_HEADER} must be 1..255 visible ASCII characters (a UUID, say).",
            code="invalid_idempotency_key",
        )
    return key


async def request_context(conn: HTTPConnection) -> RequestContext:
    return RequestContext(
        request_id=request_id_of(conn.scope),
        client_ip=conn.client.host if conn.client else None,
        user_agent=_header(conn, b"user-agent"),
        idempotency_key=idempotency_key_of(conn),
    )


Ctx = Annotated[RequestContext, Depends(request_context)]


def bearer_token(conn: HTTPConnection) -> str:
    """The token of ``Authorization: Bearer <token>``; 401 ``unauthenticated`` if absent."""
    header = _header(conn, b"authorization")
    if not header:
        raise Unauthenticated("An access token is required (Authorization: Bearer ...).")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(header) > _MAX_AUTHORIZATION:
        raise Unauthenticated(
            "The Authorization header must be 'Bearer <access token>'.", code="invalid_token"
        )
    return token


class _DeclaredBearer(HTTPBearer):
    """FastAPI's bearer scheme as OpenAPI declares it, reading nothing: the token is
    read by :func:`bearer_token` (FastAPI's own 401/403 would bypass the error
    envelope, and parsing the header twice cost about 4% of an authenticated read)."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


# Declares the scheme to OpenAPI only.
bearer_scheme = _DeclaredBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT",
    description="An access token from /api/auth/login, /register, /refresh or "
    "/accept-invitation (valid 15 minutes).",
)


@before_body
async def current_principal(
    conn: HTTPConnection,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Principal:
    return await authenticator(conn).authenticate(bearer_token(conn))


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
