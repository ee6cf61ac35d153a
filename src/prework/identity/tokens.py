"""Access tokens (signed JWTs) and opaque secrets (refresh and invitation tokens).

Access tokens are HS256 JWTs (PyJWT) with a ``kid`` header naming the key that
signed them. The composition root (:mod:`prework.bootstrap`) derives the signing
keys from the configured secret (``PREWORK_SECRET_KEY``) with
:func:`prework.bootstrap.derive_key` and the purpose :data:`ACCESS_TOKEN_PURPOSE`,
so the raw secret never signs anything directly. Keys derived from
``PREWORK_PREVIOUS_SECRET_KEYS`` still verify: rotate by moving the current
secret to the previous list and setting a new one; tokens signed with the old
key keep working until they expire. The ``kid`` is a
digest of the derived key, so it needs no configuration and reveals nothing.

Refresh tokens are ``<session id>.<secret>`` and invitation tokens
``<organization id>.<invitation id>.<secret>``: the ids are the stored item's
key, so it is found with one strongly consistent read (never through an
index, which may lag), and the 256-bit random secret is kept only as its
SHA-256 digest and compared in constant time. Clients treat both as opaque.

A verified access token's claims are kept in a bounded LRU (by the token's
exact text), so a client sending the same token again costs a dictionary
look-up instead of a signature check: only tokens that passed every check are
kept, and the times (issued-at, expiry) are checked against the clock on every
call, so a kept token still expires on time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from prework.core.clock import Clock, system_clock
from prework.core.principal import Role
from prework.errors import Unauthenticated

__all__ = [
    "ACCESS_TOKEN_PURPOSE",
    "AccessClaims",
    "KeyRing",
    "TokenService",
    "hash_secret",
    "invitation_token",
    "new_secret",
    "parse_invitation_token",
    "parse_opaque",
    "secrets_match",
]

ISSUER = "prework"
AUDIENCE = "prework-api"
ALGORITHM = "HS256"
ACCESS_TOKEN_PURPOSE = "access-token/v1"  # noqa: S105 - a label, not a secret
_CLOCK_SKEW = 30  # seconds an issuing node's clock may run ahead of ours
_OPAQUE = re.compile(r"^([0-9a-f]{32})\.([A-Za-z0-9_-]{43})$")
_INVITATION = re.compile(r"^([0-9a-f]{32})\.([0-9a-f]{32})\.([A-Za-z0-9_-]{43})$")
# verified access tokens remembered (about 1 KB each with their claims)
VERIFIED_CACHE_SIZE = 8192
_MAX_TOKEN = 4096  # longer tokens are never remembered


def _invalid() -> Unauthenticated:
    return Unauthenticated("The access token is not valid.", code="invalid_token")


def _kid(key: bytes) -> str:
    return hashlib.sha256(b"prework-kid:" + key).hexdigest()[:16]


class KeyRing:
    """The current signing key and the earlier ones that still verify (each
    already derived for :data:`ACCESS_TOKEN_PURPOSE`, at least 32 bytes)."""

    def __init__(self, current: bytes, previous: Sequence[bytes] = ()) -> None:
        for key in (current, *previous):
            if len(key) < 32:
                raise ValueError("signing keys must have at least 32 bytes")
        self.kid = _kid(current)
        self.signing_key = current
        self.verifying: dict[str, bytes] = {self.kid: current}
        for old in previous:
            self.verifying.setdefault(_kid(old), old)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    org_id: str
    role: Role
    session_id: str
    issued_at: int
    expires_at: int


class TokenService:
    def __init__(
        self,
        keys: KeyRing,
        *,
        access_ttl: int,
        clock: Clock = system_clock,
        cache_size: int = VERIFIED_CACHE_SIZE,
    ) -> None:
        self.keys = keys
        self.access_ttl = access_ttl
        self.clock = clock
        self._cache_size = cache_size
        self._verified: OrderedDict[str, AccessClaims] = OrderedDict()

    def issue_access(self, *, user_id: str, org_id: str, role: Role, session_id: str) -> str:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": user_id,
            "org": org_id,
            "role": role.value,
            "sid": session_id,
            "iat": now,
            "nbf": now,
            "exp": now + self.access_ttl,
        }
        return jwt.encode(
            claims,
            self.keys.signing_key,
            algorithm=ALGORITHM,
            headers={"kid": self.keys.kid, "typ": "at+jwt"},
        )

    def decode_access(self, token: str) -> AccessClaims:
        """The claims of a valid access token; :class:`Unauthenticated` otherwise.

        Codes: ``token_expired`` (signature fine, past ``exp``), ``invalid_token``
        (anything else: malformed, unknown key id, bad signature, wrong claims).
        """
        verified = self._verified
        result = verified.get(token)
        if result is None:
            result = self._verify(token)
            if len(token) <= _MAX_TOKEN and self._cache_size > 0:
                verified[token] = result
                if len(verified) > self._cache_size:
                    verified.popitem(last=False)
        else:
            verified.move_to_end(token)
        now = self.clock()
        if result.issued_at > now + _CLOCK_SKEW:
            raise _invalid()
        if result.expires_at <= now:
            raise Unauthenticated("The access token has expired.", code="token_expired")
        return result

    def _verify(self, token: str) -> AccessClaims:
        """The claims of a well-signed token with the right claims (times unchecked)."""
        invalid = _invalid()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise invalid from exc
        kid = header.get("kid")
        key = self.keys.verifying.get(kid) if isinstance(kid, str) else None
        if key is None or header.get("alg") != ALGORITHM:
            raise invalid
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                # the times are checked against our clock by decode_access (tests move it)
                options={
                    "require": ["exp", "iat", "sub", "org", "role", "sid", "aud", "iss"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidTokenError as exc:
            raise invalid from exc
        try:
            return AccessClaims(
                user_id=str(claims["sub"]),
                org_id=str(claims["org"]),
                role=Role(claims["role"]),
                session_id=str(claims["sid"]),
                issued_at=int(claims["iat"]),
                expires_at=int(claims["exp"]),
            )
        except (ValueError, TypeError, OverflowError) as exc:  # OverflowError: inf
            raise invalid from exc


def new_secret() -> str:
    """256 bits of randomness, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """The stored form of an opaque token's secret (SHA-256, hex)."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def secrets_match(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def parse_opaque(token: str, *, what: str = "token") -> tuple[str, str]:
    """Split ``<id>.<secret>``; :class:`Unauthenticated` (``invalid_token``) if malformed."""
    match = _OPAQUE.fullmatch(token)
    if match is None:
        raise Unauthenticated(f"The {what} is not valid.", code="invalid_token")
    return match.group(1), match.group(2)


def invitation_token(org_id: str, invitation_id: str, secret: str) -> str:
    """The token handed to an invitee (only ``secret``'s hash is stored)."""
    return f"{org_id}.{invitation_id}.{secret}"


def parse_invitation_token(token: str) -> tuple[str, str, str]:
    """Split ``<org id>.<invitation id>.<secret>``; :class:`Unauthenticated`
    (``invalid_token``) if malformed."""
    match = _INVITATION.fullmatch(token)
    if match is None:
        raise Unauthenticated("The invitation token is not valid.", code="invalid_token")
    return match.group(1), match.group(2), match.group(3)
