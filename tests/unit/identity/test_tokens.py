"""Access tokens and opaque secrets."""

from __future__ import annotations

import time

import jwt
import pytest

from prework.core.principal import Role
from prework.errors import Unauthenticated
from prework.identity.tokens import (
    KeyRing,
    TokenService,
    hash_secret,
    new_secret,
    parse_opaque,
    secrets_match,
)

KEY_1, KEY_2, KEY_3 = b"1" * 32, b"2" * 32, b"3" * 32


def issue(service: TokenService) -> str:
    return service.issue_access(user_id="u1", org_id="o1", role=Role.ADMIN, session_id="s1")


def test_round_trip_and_claims() -> None:
    service = TokenService(KeyRing(KEY_1), access_ttl=900)
    token = issue(service)
    claims = service.decode_access(token)
    assert (claims.user_id, claims.org_id, claims.role, claims.session_id) == (
        "u1",
        "o1",
        Role.ADMIN,
        "s1",
    )
    assert claims.expires_at - claims.issued_at == 900
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    assert header["kid"] == service.keys.kid


def test_expiry_uses_the_service_clock() -> None:
    now = time.time()
    service = TokenService(KeyRing(KEY_1), access_ttl=900, clock=lambda: now)
    token = issue(service)
    later = TokenService(KeyRing(KEY_1), access_ttl=900, clock=lambda: now + 900)
    with pytest.raises(Unauthenticated) as info:
        later.decode_access(token)
    assert info.value.code == "token_expired"
    early = TokenService(KeyRing(KEY_1), access_ttl=900, clock=lambda: now - 3600)
    with pytest.raises(Unauthenticated) as info:
        early.decode_access(token)  # issued in the future
    assert info.value.code == "invalid_token"


def test_previous_keys_verify_and_forgotten_ones_do_not() -> None:
    token = issue(TokenService(KeyRing(KEY_1), access_ttl=900))
    rotated = TokenService(KeyRing(KEY_2, [KEY_1]), access_ttl=900)
    assert rotated.decode_access(token).user_id == "u1"
    assert jwt.get_unverified_header(issue(rotated))["kid"] == rotated.keys.kid
    with pytest.raises(Unauthenticated):
        TokenService(KeyRing(KEY_2, [KEY_3]), access_ttl=900).decode_access(token)


def test_tampering_is_refused() -> None:
    service = TokenService(KeyRing(KEY_1), access_ttl=900)
    claims = jwt.decode(issue(service), options={"verify_signature": False})
    kid = service.keys.kid
    forged = [
        jwt.encode({**claims, "role": "owner"}, KEY_2, algorithm="HS256", headers={"kid": kid}),
        jwt.encode(claims, None, algorithm="none", headers={"kid": kid}),  # type: ignore[arg-type]
        jwt.encode(claims, service.keys.signing_key * 2, algorithm="HS512", headers={"kid": kid}),
        jwt.encode(
            {**claims, "aud": "other"},
            service.keys.signing_key,
            algorithm="HS256",
            headers={"kid": kid},
        ),
        jwt.encode(
            {**claims, "role": "emperor"},
            service.keys.signing_key,
            algorithm="HS256",
            headers={"kid": kid},
        ),
        jwt.encode(
            {k: v for k, v in claims.items() if k != "sid"},
            service.keys.signing_key,
            algorithm="HS256",
            headers={"kid": kid},
        ),
        "a.b.c",
        "",
    ]
    for token in forged:
        with pytest.raises(Unauthenticated) as info:
            service.decode_access(token)
        assert info.value.code == "invalid_token"


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        KeyRing(b"short")


def test_opaque_tokens() -> None:
    secret = new_secret()
    assert len(secret) == 43
    assert secrets_match(secret, hash_secret(secret))
    assert not secrets_match(new_secret(), hash_secret(secret))
    token = f"{'a' * 32}.{secret}"
    assert parse_opaque(token) == ("a" * 32, secret)
    for bad in (
        "",
        "x",
        f"{'a' * 32}",
        f"{'a' * 31}.{secret}",
        f"{'a' * 32}.{secret}x",
        f"{'A' * 32}.{secret}",
    ):
        with pytest.raises(Unauthenticated):
            parse_opaque(bad)


def test_absurd_numeric_claims_are_invalid_not_a_crash() -> None:
    service = TokenService(KeyRing(KEY_1), access_ttl=900)
    claims = jwt.decode(issue(service), options={"verify_signature": False})
    for field, value in (("iat", float("inf")), ("exp", float("inf")), ("iat", float("nan"))):
        token = jwt.encode(
            {**claims, field: value},
            service.keys.signing_key,
            algorithm="HS256",
            headers={"kid": service.keys.kid},
        )
        with pytest.raises(Unauthenticated) as info:
            service.decode_access(token)
        assert info.value.code == "invalid_token", field


def test_invitation_tokens_name_the_organization() -> None:
    from prework.identity.tokens import invitation_token, parse_invitation_token

    org, invitation, secret = "b" * 32, "c" * 32, new_secret()
    token = invitation_token(org, invitation, secret)
    assert parse_invitation_token(token) == (org, invitation, secret)
    for bad in (
        f"{invitation}.{secret}",  # the earlier form, without the organization
        f"{org}.{invitation}.{secret}.x",
        f"{org.upper()}.{invitation}.{secret}",
        f"{org}.{invitation}.{secret[:-1]}",
        f"{org}..{secret}",
        "",
    ):
        with pytest.raises(Unauthenticated):
            parse_invitation_token(bad)


# --------------------------------------------------------------------------- verified tokens kept
def test_a_token_verified_before_still_expires_on_time() -> None:
    now = [time.time()]
    service = TokenService(KeyRing(KEY_1), access_ttl=900, clock=lambda: now[0])
    token = issue(service)
    assert service.decode_access(token) == service.decode_access(token)  # the second: kept
    now[0] += 900
    with pytest.raises(Unauthenticated) as info:
        service.decode_access(token)
    assert info.value.code == "token_expired"
    now[0] -= 900 + 31 + 900  # the clock went back past issued-at + skew
    with pytest.raises(Unauthenticated) as info:
        service.decode_access(token)
    assert info.value.code == "invalid_token"


def test_tokens_failing_a_check_are_refused_every_time() -> None:
    service = TokenService(KeyRing(KEY_1), access_ttl=900, cache_size=2)
    token = issue(service)
    head, payload, signature = token.split(".")
    tampered = f"{head}.{payload}.{signature[:-2]}AA"
    for _ in range(3):
        with pytest.raises(Unauthenticated) as info:
            service.decode_access(tampered)
        assert info.value.code == "invalid_token"
    others = [
        service.issue_access(user_id=f"u{i}", org_id="o1", role=Role.WORKER, session_id="s")
        for i in range(5)
    ]
    for other in others:  # more than the cache holds: the oldest are verified again
        assert service.decode_access(other).user_id.startswith("u")
    assert service.decode_access(token).user_id == "u1"
