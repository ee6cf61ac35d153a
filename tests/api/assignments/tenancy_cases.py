"""Tenancy cases of the assignment, submission and review routes (see
``tests/api/identity/coverage.py``).

Each setup makes an assignment in org A at the stage the route needs (assigned,
started, signed off, submitted, approved) and says how to call the route on it;
the walk calls it as every role of org B (who must get what an id that exists
nowhere gets, and change nothing), then as A's owner (who must succeed). The
crew actions (answers, sign-off, submit) are A's owner's own assignment; the
review is of A's worker's submission. Loaded by file path: imports only
``prework`` and libraries.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prework.core.principal import Role

DEFINITION: dict[str, Any] = {
    "sections": [
        {
            "id": "s",
            "title": "Checks",
            "items": [
                {"id": "isolated", "type": "yes_no_na", "label": "Isolated"},
                {"id": "notes", "type": "text", "label": "Notes", "max_length": 200},
            ],
        }
    ]
}
STAGES = ("assigned", "started", "signed", "submitted", "approved")


async def _template(world: Any) -> str:
    """One published template per world (the cases only read it)."""
    cached: str | None = world.extra.get("assignments.template_id")
    if cached is not None:
        return cached
    owner = world.a.owner
    r = await world.client.post(
        "/api/templates", headers=owner.headers, json={"name": "Walk", "definition": DEFINITION}
    )
    assert r.status_code == 201, r.text
    template_id: str = r.json()["id"]
    r = await world.client.post(f"/api/templates/{template_id}/publish", headers=owner.headers)
    assert r.status_code == 200, r.text
    world.extra["assignments.template_id"] = template_id
    return template_id


async def _assignment(
    world: Any, stage: str = "assigned", *, by_owner: bool = False
) -> dict[str, str]:
    """An assignment of A at ``stage``, for A's owner (``by_owner``) or A's worker:
    ``{"assignment_id", "submission_id"?}``."""
    owner = world.a.owner
    doer = owner if by_owner else world.a.members[Role.WORKER]
    now = datetime.now(UTC)
    r = await world.client.post(
        "/api/assignments",
        headers=owner.headers,
        json={
            "template_id": await _template(world),
            "assignee": {"type": "user", "id": doer.user_id},
            "job_ref": "WO-A",
            "planned_start": now.isoformat(),
            "due_at": (now + timedelta(hours=2)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    ids = {"assignment_id": r.json()["id"]}
    base = f"/api/assignments/{ids['assignment_id']}"
    steps = STAGES.index(stage)
    if steps >= 1:
        r = await world.client.post(f"{base}/start", headers=doer.headers)
        assert r.status_code == 200, r.text
    if steps >= 2:
        r = await world.client.post(f"{base}/signoff", headers=doer.headers)
        assert r.status_code == 200, r.text
    if steps >= 3:
        r = await world.client.post(f"{base}/submit", headers=doer.headers)
        assert r.status_code == 201, r.text
        ids["submission_id"] = r.json()["id"]
    if steps >= 4:
        assert not by_owner, "nobody reviews their own work"
        r = await world.client.post(
            f"/api/submissions/{ids['submission_id']}/review",
            headers=owner.headers,
            json={"decision": "approve"},
        )
        assert r.status_code == 200, r.text
    return ids


def _path(ids: dict[str, str], *names: str) -> dict[str, str]:
    return {name: ids[name] for name in names}


async def _assigned(world: Any) -> dict[str, Any]:
    return {"path_params": _path(await _assignment(world), "assignment_id")}


async def _edit(world: Any) -> dict[str, Any]:
    ids = await _assignment(world)
    supervisor = world.a.members[Role.SUPERVISOR].user_id
    return {
        "path_params": _path(ids, "assignment_id"),
        "json": {"job_ref": "WO-B", "assignee": {"type": "user", "id": supervisor}},
    }


async def _cancel(world: Any) -> dict[str, Any]:
    ids = await _assignment(world)
    return {"path_params": _path(ids, "assignment_id"), "json": {"reason": "Job moved"}}


async def _amend(world: Any) -> dict[str, Any]:
    ids = await _assignment(world, "started")
    return {
        "path_params": _path(ids, "assignment_id"),
        "json": {"user_ids": [world.a.members[Role.SUPERVISOR].user_id]},
    }


async def _answer(world: Any) -> dict[str, Any]:
    ids = await _assignment(world, "started", by_owner=True)
    return {
        "path_params": _path(ids, "assignment_id"),
        "json": {"answers": {"isolated": "yes", "notes": "checked"}},
    }


async def _signoff(world: Any) -> dict[str, Any]:
    ids = await _assignment(world, "started", by_owner=True)
    return {"path_params": _path(ids, "assignment_id")}


async def _submit(world: Any) -> dict[str, Any]:
    ids = await _assignment(world, "signed", by_owner=True)
    return {"path_params": _path(ids, "assignment_id")}


async def _submitted(world: Any) -> dict[str, Any]:
    return {"path_params": _path(await _assignment(world, "submitted"), "assignment_id")}


async def _approved(world: Any) -> dict[str, Any]:
    return {"path_params": _path(await _assignment(world, "approved"), "assignment_id")}


async def _void(world: Any) -> dict[str, Any]:
    ids = await _assignment(world, "approved")
    return {"path_params": _path(ids, "assignment_id"), "json": {"reason": "Gas alarm"}}


async def _submission(world: Any) -> dict[str, Any]:
    return {"path_params": _path(await _assignment(world, "submitted"), "submission_id")}


async def _review(world: Any) -> dict[str, Any]:
    ids = await _assignment(world, "submitted")
    return {"path_params": _path(ids, "submission_id"), "json": {"decision": "approve"}}


async def _create(world: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "json": {
            "template_id": await _template(world),
            "assignee": {"type": "user", "id": world.a.members[Role.WORKER].user_id},
            "job_ref": "WO-A",
            "planned_start": now.isoformat(),
            "due_at": (now + timedelta(hours=2)).isoformat(),
        },
        "body_ids": ["template_id", "assignee.id"],
    }


# --------------------------------------------------------------------------- sync
async def _sync_session(world: Any) -> tuple[str, str]:
    """A's owner's started assignment and the owner's session on it."""
    aid = (await _assignment(world, "started", by_owner=True))["assignment_id"]
    r = await world.client.post(
        "/api/sync",
        headers=world.a.owner.headers,
        json={"action": "join_session", "assignment_id": aid},
    )
    assert r.status_code == 200, r.text
    return aid, r.json()["session_id"]


async def _sync_join(world: Any) -> dict[str, Any]:
    aid = (await _assignment(world, "started", by_owner=True))["assignment_id"]
    return {
        "json": {"action": "join_session", "assignment_id": aid},
        "body_ids": ["assignment_id"],
    }


async def _sync_apply(world: Any) -> dict[str, Any]:
    aid, session = await _sync_session(world)
    return {
        "json": {
            "action": "apply_operation",
            "assignment_id": aid,
            "session_id": session,
            "op": [{"p": ["answers", "notes"], "oi": "checked"}],
            "version": 1,
            "seq": 1,
        },
        "body_ids": ["assignment_id", "session_id"],
    }


async def _sync_ops(world: Any) -> dict[str, Any]:
    aid, session = await _sync_session(world)
    return {
        "json": {
            "action": "get_operations",
            "assignment_id": aid,
            "session_id": session,
            "since": 1,
        },
        "body_ids": ["assignment_id", "session_id"],
    }


async def _sync_leave(world: Any) -> dict[str, Any]:
    aid, session = await _sync_session(world)
    return {
        "json": {"action": "leave_session", "assignment_id": aid, "session_id": session},
        "body_ids": ["assignment_id", "session_id"],
    }


CASES = {
    ("POST", "/api/assignments"): _create,
    ("POST", "/api/sync", "join_session"): _sync_join,
    ("POST", "/api/sync", "apply_operation"): _sync_apply,
    ("POST", "/api/sync", "get_operations"): _sync_ops,
    ("POST", "/api/sync", "leave_session"): _sync_leave,
    ("GET", "/api/assignments/{assignment_id}"): _assigned,
    ("PATCH", "/api/assignments/{assignment_id}"): _edit,
    ("POST", "/api/assignments/{assignment_id}/start"): _assigned,
    ("POST", "/api/assignments/{assignment_id}/cancel"): _cancel,
    ("POST", "/api/assignments/{assignment_id}/crew"): _amend,
    ("GET", "/api/assignments/{assignment_id}/answers"): _answer,
    ("PUT", "/api/assignments/{assignment_id}/answers"): _answer,
    ("PATCH", "/api/assignments/{assignment_id}/answers"): _answer,
    ("POST", "/api/assignments/{assignment_id}/signoff"): _signoff,
    ("POST", "/api/assignments/{assignment_id}/submit"): _submit,
    ("GET", "/api/assignments/{assignment_id}/submissions"): _submitted,
    ("GET", "/api/assignments/{assignment_id}/clearance"): _approved,
    ("POST", "/api/assignments/{assignment_id}/clearance/void"): _void,
    ("GET", "/api/submissions/{submission_id}"): _submission,
    ("POST", "/api/submissions/{submission_id}/review"): _review,
}
