"""Tenancy cases of the identity routes (and the file backend's blob routes).

Each setup makes objects in org A and says how to call the route on them;
the walk in ``test_tenancy.py`` calls it as every role of org B. Loaded by
file path (see ``coverage.py``): import only ``prework`` and libraries.
"""

from __future__ import annotations

from typing import Any

from prework.core.principal import Role


async def _a_worker(world: Any) -> dict[str, Any]:
    member = await world.join(world.a, Role.WORKER)
    return {"path_params": {"user_id": member.user_id}}


async def _a_worker_role(world: Any) -> dict[str, Any]:
    member = await world.join(world.a, Role.WORKER)
    return {"path_params": {"user_id": member.user_id}, "json": {"role": "admin"}}


async def _a_deactivated(world: Any) -> dict[str, Any]:
    member = await world.join(world.a, Role.WORKER)
    r = await world.client.post(
        f"/api/users/{member.user_id}/deactivate", headers=world.a.owner.headers
    )
    assert r.status_code == 200, r.text
    return {"path_params": {"user_id": member.user_id}}


async def _a_invitation(world: Any) -> dict[str, Any]:
    invitation = await world.invite(world.a, Role.WORKER)
    return {"path_params": {"invitation_id": invitation["id"]}}


async def _a_blob(world: Any) -> dict[str, Any]:
    key = f"{world.a.org_id}/avatars/{world.a.owner.user_id}.png"
    await world.app.state.blobs.put("media", key, b"\x89PNG org A", content_type="image/png")
    return {"path_params": {"bucket": "media", "key": key}, "own_check": False}


# ---------------------------------------------------------------- certification verification
async def _a_certification(world: Any) -> dict[str, Any]:
    member = await world.join(world.a, Role.WORKER)
    r = await world.client.patch(
        "/api/profiles/me",
        headers=member.headers,
        json={"certifications": [{"name": "Working at height"}]},
    )
    assert r.status_code == 200, r.text
    return {"path_params": {"user_id": member.user_id, "name": "working at height"}}


CASES = {
    ("GET", "/api/users/{user_id}"): _a_worker,
    ("PATCH", "/api/users/{user_id}"): _a_worker_role,
    ("POST", "/api/users/{user_id}/deactivate"): _a_worker,
    ("POST", "/api/users/{user_id}/reactivate"): _a_deactivated,
    ("DELETE", "/api/users/invitations/{invitation_id}"): _a_invitation,
    ("GET", "/api/profiles/{user_id}"): _a_worker,
    # a presigned download is a capability URL: without A's signature, nothing
    ("GET", "/api/blobs/{bucket}/{key:path}"): _a_blob,
    # certification verification
    ("POST", "/api/users/{user_id}/certifications/{name}/verify"): _a_certification,
}
