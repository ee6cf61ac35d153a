"""Verified certifications: an owner, admin or supervisor vouches for a member's
certification (who and when, audited); editing it clears that; names match
case-folded. Through HTTP on both engines; storage is read back after refusals."""

from __future__ import annotations

from typing import Any

import pytest

from prework.core.principal import Role

from .coverage import World
from .helpers import audit_items, error_code, snapshot


def _certs(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in body["certifications"]}


async def _certified(world: World, *certs: dict[str, Any]) -> Any:
    member = await world.join(world.a, Role.WORKER)
    r = await world.client.patch(
        "/api/profiles/me", headers=member.headers, json={"certifications": list(certs)}
    )
    assert r.status_code == 200, r.text
    return member


@pytest.mark.parametrize("by", [Role.OWNER, Role.ADMIN, Role.SUPERVISOR])
async def test_a_manager_verifies_and_an_edit_clears_it(walk_world: World, by: Role) -> None:
    world, c = walk_world, walk_world.client
    member = await _certified(
        world,
        {"name": "Confined Space Entry", "issuer": "HSE", "expires_on": "2030-01-01"},
        {"name": "Rigging"},
    )
    verifier = world.a.members[by]
    url = f"/api/users/{member.user_id}/certifications/CONFINED%20space%20entry/verify"
    r = await c.post(url, headers=verifier.headers)
    assert r.status_code == 200, r.text
    cert = _certs(r.json())["Confined Space Entry"]
    assert cert["verified_by"] == verifier.user_id
    assert cert["verified_at"]
    assert _certs(r.json())["Rigging"]["verified_by"] is None
    events = [
        e
        for e in await audit_items(world.store, world.a.org_id)
        if e["action"] == "certification.verified" and e["target_id"] == member.user_id
    ]
    assert len(events) == 1
    assert events[0]["actor_id"] == verifier.user_id

    # verifying again changes nothing
    r = await c.post(url, headers=verifier.headers)
    assert _certs(r.json())["Confined Space Entry"]["verified_at"] == cert["verified_at"]

    # the same claim sent again keeps its verification; an edited one loses it
    own = "/api/profiles/me"
    same = [
        {"name": "Confined Space Entry", "issuer": "HSE", "expires_on": "2030-01-01"},
        {"name": "Rigging"},
    ]
    r = await c.patch(own, headers=member.headers, json={"certifications": same})
    assert _certs(r.json())["Confined Space Entry"]["verified_by"] == verifier.user_id
    edited = [{**same[0], "expires_on": "2031-01-01"}, same[1]]
    r = await c.patch(own, headers=member.headers, json={"certifications": edited})
    assert r.status_code == 200
    assert _certs(r.json())["Confined Space Entry"]["verified_by"] is None
    assert _certs(r.json())["Confined Space Entry"]["verified_at"] is None


async def test_refusals_change_nothing(walk_world: World) -> None:
    world, c = walk_world, walk_world.client
    member = await _certified(world, {"name": "Rigging"})
    supervisor = world.a.members[Role.SUPERVISOR]
    before = await snapshot(world.store, world.a.org_id)
    base = f"/api/users/{member.user_id}/certifications"
    for headers in (member.headers, world.a.members[Role.AUDITOR].headers):
        r = await c.post(f"{base}/Rigging/verify", headers=headers)
        assert r.status_code == 403
    r = await c.post(f"{base}/Welding/verify", headers=supervisor.headers)
    assert r.status_code == 404
    r = await c.post(
        f"/api/users/{supervisor.user_id}/certifications/Rigging/verify", headers=supervisor.headers
    )
    assert r.status_code == 403
    assert error_code(r) == "self_verification"
    r = await c.post(f"{base}/Rigging/verify", headers=supervisor.headers, json={"version": 99})
    assert r.status_code == 409
    assert error_code(r) == "stale_version"
    # another organization's member is not found
    r = await c.post(f"{base}/Rigging/verify", headers=world.b.members[Role.SUPERVISOR].headers)
    assert r.status_code == 404
    after = await snapshot(world.store, world.a.org_id)
    assert after["profiles"] == before["profiles"]
    new = [e["action"] for e in after["audit-log"] if e not in before["audit-log"]]
    assert set(new) <= {"access.denied"}


async def test_names_are_unique_case_folded(walk_world: World) -> None:
    member = await walk_world.join(walk_world.a, Role.WORKER)
    r = await walk_world.client.patch(
        "/api/profiles/me",
        headers=member.headers,
        json={"certifications": [{"name": "Rigging"}, {"name": "RIGGING"}]},
    )
    assert r.status_code == 422
    assert error_code(r) == "duplicate_certification"
