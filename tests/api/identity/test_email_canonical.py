"""One mailbox, one account: every spelling of an address is the same account,
and accounts keyed by the first releases' normalisation still log in and move.

The canonical form (docs/data-model.md): local part NFKC-normalised and
case-folded, domain in IDNA U-labels (``p@bücher.example``), dots of every
script as ``.``.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from prework.core.principal import Role
from prework.store.base import Store

from .helpers import PASSWORD, accept, audit_items, error_code, invite, login, register


def _local(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _guard_key(email: str) -> dict[str, str]:
    return {"pk": f"EMAIL#{email}", "sk": "EMAIL"}


async def _register_status(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post(
        "/api/auth/register",
        json={
            "organization_name": "Second Org",
            "email": email,
            "password": PASSWORD,
            "display_name": "Second",
        },
    )


def _spellings() -> list[tuple[str, str, str]]:
    dot, idn = _local("dot"), _local("idn")
    return [
        # (registered as, the other spelling, canonical)
        (f"{dot}@example.com", f"{dot}@example\u3002com", f"{dot}@example.com"),
        (f"{dot}x@example\u3002com", f"{dot}x@example.com", f"{dot}x@example.com"),
        (f"{idn}@bücher.example", f"{idn}@xn--bcher-kva.example", f"{idn}@bücher.example"),
        (f"{idn}x@XN--BCHER-KVA.example", f"{idn}x@BÜCHER.example", f"{idn}x@bücher.example"),
    ]


@pytest.mark.parametrize(("first", "other", "canonical"), _spellings())
async def test_two_spellings_are_one_account(
    client: httpx.AsyncClient, store: Store, first: str, other: str, canonical: str
) -> None:
    owner = await register(client, email=first)
    assert owner.email == canonical
    r = await _register_status(client, other)
    assert r.status_code == 409, r.text
    assert error_code(r) == "user_exists"
    for spelling in (first, other, canonical):
        r = await login(client, spelling)
        assert r.status_code == 200, (spelling, r.text)
        assert r.json()["user"]["id"] == owner.user_id
    guard = await store.get("users", _guard_key(canonical))
    assert guard is not None
    assert guard["user_id"] == owner.user_id
    # an invitation of the other spelling cannot be accepted either
    invitation = await invite(client, owner, role=Role.WORKER, email=other)
    assert invitation["email"] == canonical
    r = await accept(client, invitation["token"])
    assert r.status_code == 409, r.text
    assert error_code(r) == "user_exists"


async def _make_legacy(
    store: Store, canonical: str, legacy: str, user_id: str, org_id: str
) -> None:
    """Re-key a user as the first releases did: guard ``EMAIL#<legacy>``, ``email`` legacy."""
    guard = await store.get("users", _guard_key(canonical))
    assert guard is not None
    await store.delete("users", _guard_key(canonical))
    await store.put("users", {**guard, **_guard_key(legacy)})
    user_key = {"pk": f"ORG#{org_id}", "sk": f"USER#{user_id}"}
    user = await store.get("users", user_key)
    assert user is not None
    await store.put("users", {**user, "email": legacy})


@pytest.mark.parametrize(
    ("legacy", "typed", "canonical"),
    [
        # (the old guard key, what the owner types, the new key)
        ("{}@example\u3002com", "{}@example\u3002com", "{}@example.com"),
        ("{}@xn--bcher-kva.example", "{}@bücher.example", "{}@bücher.example"),
        ("{}@xn--bcher-kva.example", "{}@XN--bcher-kva.EXAMPLE", "{}@bücher.example"),
    ],
)
async def test_a_legacy_account_logs_in_and_is_migrated(
    client: httpx.AsyncClient, store: Store, legacy: str, typed: str, canonical: str
) -> None:
    local = _local("legacy")
    legacy, typed, canonical = legacy.format(local), typed.format(local), canonical.format(local)
    owner = await register(client, email=canonical)
    await _make_legacy(store, canonical, legacy, owner.user_id, owner.org_id)

    # while legacy: a registration of any spelling of the mailbox is refused
    r = await _register_status(client, typed)
    assert r.status_code == 409, r.text
    assert error_code(r) == "user_exists"
    assert await store.get("users", _guard_key(canonical)) is None

    r = await login(client, typed)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["user"]["id"] == owner.user_id
    assert body["user"]["email"] == canonical
    # moved: the new guard names the user, the old one is gone, the user item says so
    guard = await store.get("users", _guard_key(canonical))
    assert guard is not None
    assert (guard["user_id"], guard["org_id"]) == (owner.user_id, owner.org_id)
    assert await store.get("users", _guard_key(legacy)) is None
    user = await store.get("users", {"pk": f"ORG#{owner.org_id}", "sk": f"USER#{owner.user_id}"})
    assert user is not None
    assert user["email"] == canonical
    logins = [e for e in await audit_items(store, owner.org_id) if e["action"] == "auth.login"]
    assert logins[-1]["changes"] == {"email": {"old": legacy, "new": canonical}}

    # and from now on it is an ordinary account, under every spelling
    for spelling in (canonical, typed, legacy):
        r = await login(client, spelling)
        assert r.status_code == 200, (spelling, r.text)
    r = await _register_status(client, canonical)
    assert r.status_code == 409, r.text


async def test_a_wrong_password_does_not_migrate(client: httpx.AsyncClient, store: Store) -> None:
    local = _local("nomove")
    canonical, legacy = f"{local}@example.com", f"{local}@example\u3002com"
    owner = await register(client, email=canonical)
    await _make_legacy(store, canonical, legacy, owner.user_id, owner.org_id)
    r = await login(client, legacy, "not the right password")
    assert r.status_code == 401, r.text
    assert await store.get("users", _guard_key(canonical)) is None
    assert await store.get("users", _guard_key(legacy)) is not None


async def test_an_invitation_stored_with_a_legacy_address_creates_a_canonical_user(
    client: httpx.AsyncClient, store: Store
) -> None:
    owner = await register(client)
    local = _local("invited")
    invitation = await invite(client, owner, role=Role.WORKER, email=f"{local}@example.com")
    key = {"pk": f"ORG#{owner.org_id}", "sk": f"INVITE#{invitation['id']}"}
    item = await store.get("organizations", key)
    assert item is not None
    await store.put("organizations", {**item, "email": f"{local}@example\u3002com"})
    r = await accept(client, invitation["token"])
    assert r.status_code == 201, r.text
    assert r.json()["user"]["email"] == f"{local}@example.com"
    assert await store.get("users", _guard_key(f"{local}@example.com")) is not None
    assert await store.get("users", _guard_key(f"{local}@example\u3002com")) is None
