"""``/api/profiles`` and ``/api/orgs/current``."""

from __future__ import annotations

import httpx

from prework.core.principal import Role
from prework.store.base import Store

from .helpers import audit_items, error_code, make_tenant, register, snapshot


async def test_own_profile_update_and_clear(client: httpx.AsyncClient, store: Store) -> None:
    owner = await register(client, display_name="Olive")
    r = await client.patch(
        "/api/profiles/me",
        headers=owner.headers,
        json={
            "display_name": "Olive Oyl",
            "phone": "+4915112345678",
            "job_title": "Site manager",
            "certifications": [
                {"name": "Working at height", "issuer": "IPAF", "expires_on": "2027-03-31"},
                {"name": "First aid"},
            ],
            "locale": "de-DE",
            "time_zone": "Europe/Berlin",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == 2
    assert r.headers["ETag"] == '"2"'
    assert body["certifications"][0] == {
        "name": "Working at height",
        "issuer": "IPAF",
        "number": None,
        "expires_on": "2027-03-31",
        "verified_by": None,  # until an owner, admin or supervisor verifies it
        "verified_at": None,
    }
    assert body["time_zone"] == "Europe/Berlin"

    cleared = await client.patch(
        "/api/profiles/me", headers=owner.headers, json={"phone": None, "version": 2}
    )
    assert cleared.status_code == 200
    assert cleared.json()["phone"] is None
    assert cleared.json()["job_title"] == "Site manager"  # untouched

    events = [e for e in await audit_items(store, owner.org_id) if e["action"] == "profile.updated"]
    assert len(events) == 2
    assert events[0]["changes"]["display_name"] == {"old": "Olive", "new": "Olive Oyl"}
    assert events[1]["changes"] == {"phone": {"old": "+4915112345678", "new": None}}

    unchanged = await client.patch("/api/profiles/me", headers=owner.headers, json={"phone": None})
    assert unchanged.status_code == 200
    assert unchanged.json()["version"] == 3


async def test_profile_input_is_validated(client: httpx.AsyncClient, store: Store) -> None:
    owner = await register(client)
    before = await snapshot(store, owner.org_id)
    bad_bodies = [
        {"time_zone": "Mars/Olympus"},
        {"locale": "not a locale"},
        {"phone": "call me"},
        {"display_name": None},
        {"display_name": ""},
        {"certifications": [{"name": "x", "expires_on": "someday"}]},
        {"certifications": [{"name": "x", "colour": "red"}]},
        {"nickname": "Ollie"},
        {"avatar_media_id": "../../etc/passwd"},
        {"certifications": [{"name": f"c{i}"} for i in range(51)]},
    ]
    for body in bad_bodies:
        r = await client.patch("/api/profiles/me", headers=owner.headers, json=body)
        assert r.status_code == 422, body
        assert error_code(r) == "validation_failed", body
    stale = await client.patch(
        "/api/profiles/me", headers=owner.headers, json={"job_title": "x", "version": 7}
    )
    assert stale.status_code == 409
    assert error_code(stale) == "stale_version"
    assert await snapshot(store, owner.org_id) == before


async def test_who_reads_whose_profile(client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(client)
    worker = tenant.members[Role.WORKER]
    for role, member in tenant.members.items():
        own = await client.get(f"/api/profiles/{member.user_id}", headers=member.headers)
        assert own.status_code == 200
        other = await client.get(f"/api/profiles/{tenant.owner.user_id}", headers=member.headers)
        expected = 403 if role is Role.WORKER else 200
        assert other.status_code == expected, role
    me = await client.get("/api/profiles/me", headers=worker.headers)
    assert me.json()["user_id"] == worker.user_id


async def test_org_read_and_update(client: httpx.AsyncClient, store: Store) -> None:
    tenant = await make_tenant(client, roles=(Role.OWNER, Role.ADMIN, Role.SUPERVISOR))
    for member in tenant.members.values():
        r = await client.get("/api/orgs/current", headers=member.headers)
        assert r.status_code == 200
        assert r.json()["id"] == tenant.org_id
    admin = tenant.members[Role.ADMIN]
    r = await client.patch(
        "/api/orgs/current",
        headers=admin.headers,
        json={"name": "Acme Renamed", "time_zone": "America/Chicago", "version": 1},
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Acme Renamed"
    assert r.json()["version"] == 2
    denied = await client.patch(
        "/api/orgs/current", headers=tenant.members[Role.SUPERVISOR].headers, json={"name": "X"}
    )
    assert denied.status_code == 403
    for body in ({"name": None}, {"name": ""}, {"id": "other"}, {"time_zone": "Nowhere"}):
        r = await client.patch("/api/orgs/current", headers=admin.headers, json=body)
        assert r.status_code == 422, body
    stale = await client.patch(
        "/api/orgs/current", headers=admin.headers, json={"name": "Y", "version": 1}
    )
    assert stale.status_code == 409
    assert error_code(stale) == "stale_version"
    updated = [e for e in await audit_items(store, tenant.org_id) if e["action"] == "org.updated"]
    assert len(updated) == 1
    assert updated[0]["changes"] == {
        "name": {"old": "Acme", "new": "Acme Renamed"},
        "time_zone": {"old": None, "new": "America/Chicago"},
    }


async def test_changes_without_a_version_never_conflict(
    client: httpx.AsyncClient, store: Store
) -> None:
    """Without ``version`` or ``If-Match`` a change applies to the current version,
    even when another change lands between its read and its write."""
    import asyncio

    owner = await register(client)
    names = [f"Name {i}" for i in range(5)]
    responses = await asyncio.gather(
        *(
            client.patch("/api/orgs/current", headers=owner.headers, json={"name": name})
            for name in names
        ),
        *(
            client.patch("/api/profiles/me", headers=owner.headers, json={"job_title": name})
            for name in names
        ),
    )
    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
    org = (await client.get("/api/orgs/current", headers=owner.headers)).json()
    profile = (await client.get("/api/profiles/me", headers=owner.headers)).json()
    assert org["name"] in names
    assert profile["job_title"] in names
    events = await audit_items(store, owner.org_id)
    # one event per change that changed something; versions count every change
    assert org["version"] == 1 + sum(e["action"] == "org.updated" for e in events)
    assert profile["version"] == 1 + sum(e["action"] == "profile.updated" for e in events)


async def test_a_conflict_names_the_current_version(client: httpx.AsyncClient) -> None:
    """Two changes based on one version: the loser learns the version to reload."""
    import asyncio

    owner = await register(client)
    responses = await asyncio.gather(
        *(
            client.patch(
                "/api/profiles/me", headers=owner.headers, json={"job_title": t, "version": 1}
            )
            for t in ("a", "b", "c", "d")
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409]
    for r in responses:
        if r.status_code == 409:
            assert error_code(r) == "stale_version"
            assert r.json()["error"]["details"]["current_version"] == 2, r.text
