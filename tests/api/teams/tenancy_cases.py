"""Tenancy cases of the teams routes (see ``tests/api/identity/coverage.py``).

Each setup makes a team in org A (as A's owner) and says how to call the route on
it; the walk calls it as every role of org B. Loaded by file path: import only
``prework`` and libraries.
"""

from __future__ import annotations

from typing import Any

from prework.core.principal import Role


async def _team(world: Any, *members: str) -> str:
    r = await world.client.post(
        "/api/teams",
        headers=world.a.owner.headers,
        json={"name": "A crew", "members": [{"user_id": m, "role": "member"} for m in members]},
    )
    assert r.status_code == 201, r.text
    team_id: str = r.json()["id"]
    return team_id


async def _a_team(world: Any) -> dict[str, Any]:
    worker = await world.join(world.a, Role.WORKER)
    return {"path_params": {"team_id": await _team(world, worker.user_id)}}


async def _a_rename(world: Any) -> dict[str, Any]:
    return {"path_params": {"team_id": await _team(world)}, "json": {"name": "Renamed"}}


async def _a_add(world: Any) -> dict[str, Any]:
    worker = await world.join(world.a, Role.WORKER)
    return {
        "path_params": {"team_id": await _team(world)},
        "json": {"members": [{"user_id": worker.user_id}]},
    }


async def _a_remove(world: Any) -> dict[str, Any]:
    worker = await world.join(world.a, Role.WORKER)
    return {
        "path_params": {"team_id": await _team(world, worker.user_id)},
        "json": {"user_ids": [worker.user_id]},
    }


CASES = {
    ("GET", "/api/teams/{team_id}"): _a_team,
    ("PATCH", "/api/teams/{team_id}"): _a_rename,
    ("GET", "/api/teams/{team_id}/members"): _a_team,
    ("POST", "/api/teams/{team_id}/members"): _a_add,
    ("DELETE", "/api/teams/{team_id}/members"): _a_remove,
    ("POST", "/api/teams/{team_id}/archive"): _a_team,
}
