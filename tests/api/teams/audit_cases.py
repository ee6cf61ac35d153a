"""Audit coverage cases of the teams routes (see ``tests/api/identity/test_audit_coverage.py``).

Loaded by file path: import only ``prework`` and libraries.
"""

from __future__ import annotations

from typing import Any

from prework.core.principal import Role


async def _team(world: Any, *members: str) -> str:
    r = await world.client.post(
        "/api/teams",
        headers=world.a.owner.headers,
        json={"name": "Audited crew", "members": [{"user_id": m} for m in members]},
    )
    assert r.status_code == 201, r.text
    team_id: str = r.json()["id"]
    return team_id


def _events(world: Any, team_id: str, *actions: str) -> Any:
    return lambda r: (world.a.org_id, [(a, "team", team_id) for a in actions])


async def create_ok(world: Any) -> dict[str, Any]:
    worker = await world.join(world.a, Role.WORKER)

    def expect(r: Any) -> tuple[str, list[tuple[str, str, str]]]:
        team_id = r.json()["id"]
        return world.a.org_id, [
            ("team.created", "team", team_id),
            ("team.activated", "team", team_id),
        ]

    return {
        "headers": world.a.members[Role.SUPERVISOR].headers,
        "json": {"name": "New crew", "members": [{"user_id": worker.user_id, "role": "lead"}]},
        "expect": expect,
    }


async def create_fail(world: Any) -> dict[str, Any]:
    return {
        "headers": world.a.members[Role.WORKER].headers,
        "json": {"name": "Not allowed"},
        "org": world.a.org_id,
        "events": ["access.denied"],
    }


async def rename_ok(world: Any) -> dict[str, Any]:
    team_id = await _team(world)
    return {
        "headers": world.a.owner.headers,
        "path_params": {"team_id": team_id},
        "json": {"name": "Renamed crew"},
        "expect": _events(world, team_id, "team.renamed"),
    }


async def rename_fail(world: Any) -> dict[str, Any]:
    team_id = await _team(world)
    return {
        "headers": world.a.owner.headers,
        "path_params": {"team_id": team_id},
        "json": {"name": "Renamed crew", "version": 99},
        "org": world.a.org_id,
        "events": [],
    }


async def add_ok(world: Any) -> dict[str, Any]:
    worker = await world.join(world.a, Role.WORKER)
    team_id = await _team(world)
    return {
        "headers": world.a.owner.headers,
        "path_params": {"team_id": team_id},
        "json": {"members": [{"user_id": worker.user_id}]},
        "expect": _events(world, team_id, "team.members_changed"),
    }


async def add_fail(world: Any) -> dict[str, Any]:
    worker = await world.join(world.a, Role.WORKER)
    team_id = await _team(world, worker.user_id)
    return {
        "headers": world.a.owner.headers,
        "path_params": {"team_id": team_id},
        "json": {"members": [{"user_id": worker.user_id}]},  # already a member
        "org": world.a.org_id,
        "events": [],
    }


async def remove_ok(world: Any) -> dict[str, Any]:
    worker = await world.join(world.a, Role.WORKER)
    team_id = await _team(world, worker.user_id)
    return {
        "headers": world.a.owner.headers,
        "path_params": {"team_id": team_id},
        "json": {"user_ids": [worker.user_id]},
        "expect": _events(world, team_id, "team.members_changed"),
    }


async def remove_fail(world: Any) -> dict[str, Any]:
    team_id = await _team(world)
    return {
        "headers": world.a.members[Role.AUDITOR].headers,
        "path_params": {"team_id": team_id},
        "json": {"user_ids": [world.a.owner.user_id]},
        "org": world.a.org_id,
        "events": ["access.denied"],
    }


async def archive_ok(world: Any) -> dict[str, Any]:
    team_id = await _team(world)
    return {
        "headers": world.a.owner.headers,
        "path_params": {"team_id": team_id},
        "expect": _events(world, team_id, "team.archived"),
    }


async def archive_fail(world: Any) -> dict[str, Any]:
    team_id = await _team(world)
    r = await world.client.post(f"/api/teams/{team_id}/archive", headers=world.a.owner.headers)
    assert r.status_code == 200, r.text
    return {
        "headers": world.a.owner.headers,
        "path_params": {"team_id": team_id},  # already archived
        "org": world.a.org_id,
        "events": [],
    }


CASES = {
    ("POST", "/api/teams"): {"ok": create_ok, "fail": create_fail},
    ("PATCH", "/api/teams/{team_id}"): {"ok": rename_ok, "fail": rename_fail},
    ("POST", "/api/teams/{team_id}/members"): {"ok": add_ok, "fail": add_fail},
    ("DELETE", "/api/teams/{team_id}/members"): {"ok": remove_ok, "fail": remove_fail},
    ("POST", "/api/teams/{team_id}/archive"): {"ok": archive_ok, "fail": archive_fail},
}
