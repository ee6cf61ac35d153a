"""Audit coverage cases of the assignment, submission and review routes (see
``tests/api/identity/test_audit_coverage.py``).

Each success case must write exactly its event (action, target) in org A; each
failure case (a stale version, an illegal transition, bad input, a denial)
must change nothing and write no event but the named denial. Loaded by file
path: imports only ``prework`` and libraries (so the builder below repeats the
one of ``tenancy_cases.py``).
"""

from __future__ import annotations

from collections.abc import Callable
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


Expect = Callable[[Any], tuple[str, list[tuple[str, str, str]]]]


def _on(world: Any, action: str, target_id: str, target_type: str = "assignment") -> Expect:
    return lambda r: (world.a.org_id, [(action, target_type, target_id)])


def _failing(world: Any, headers: dict[str, str], **call: Any) -> dict[str, Any]:
    events = call.pop("events", [])
    return {"headers": headers, "org": world.a.org_id, "events": events, **call}


def _owner(world: Any) -> dict[str, str]:
    headers: dict[str, str] = world.a.owner.headers
    return headers


def _auditor(world: Any) -> dict[str, str]:
    headers: dict[str, str] = world.a.members[Role.AUDITOR].headers
    return headers


# --------------------------------------------------------------------------- create
async def create_ok(world: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "headers": world.a.members[Role.SUPERVISOR].headers,
        "json": {
            "template_id": await _template(world),
            "assignee": {"type": "user", "id": world.a.members[Role.WORKER].user_id},
            "job_ref": "WO-NEW",
            "planned_start": now.isoformat(),
            "due_at": (now + timedelta(hours=1)).isoformat(),
        },
        "expect": lambda r: (
            world.a.org_id,
            [("assignment.created", "assignment", r.json()["id"])],
        ),
    }


async def create_fail(world: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return _failing(
        world,
        world.a.members[Role.WORKER].headers,  # workers do not assign
        json={
            "template_id": await _template(world),
            "assignee": {"type": "user", "id": world.a.members[Role.WORKER].user_id},
            "job_ref": "WO-NEW",
            "planned_start": now.isoformat(),
            "due_at": (now + timedelta(hours=1)).isoformat(),
        },
        events=["access.denied"],
    )


# --------------------------------------------------------------------------- job details
async def update_ok(world: Any) -> dict[str, Any]:
    aid = (await _assignment(world))["assignment_id"]
    return {
        "headers": _owner(world),
        "path_params": {"assignment_id": aid},
        "json": {"job_ref": "WO-EDITED", "version": 1},
        "expect": _on(world, "assignment.updated", aid),
    }


async def update_fail(world: Any) -> dict[str, Any]:
    aid = (await _assignment(world))["assignment_id"]
    return _failing(  # stale version
        world,
        _owner(world),
        path_params={"assignment_id": aid},
        json={"job_ref": "WO-EDITED", "version": 99},
    )


async def start_ok(world: Any) -> dict[str, Any]:
    aid = (await _assignment(world))["assignment_id"]
    return {
        "headers": world.a.members[Role.WORKER].headers,
        "path_params": {"assignment_id": aid},
        "expect": _on(world, "assignment.started", aid),
    }


async def start_fail(world: Any) -> dict[str, Any]:
    aid = (await _assignment(world, "started"))["assignment_id"]
    return _failing(world, _owner(world), path_params={"assignment_id": aid})  # started


async def cancel_ok(world: Any) -> dict[str, Any]:
    aid = (await _assignment(world, "submitted"))["assignment_id"]
    return {
        "headers": _owner(world),
        "path_params": {"assignment_id": aid},
        "json": {"reason": "Job moved"},
        "expect": _on(world, "assignment.cancelled", aid),
    }


async def cancel_fail(world: Any) -> dict[str, Any]:
    aid = (await _assignment(world, "approved"))["assignment_id"]
    return _failing(world, _owner(world), path_params={"assignment_id": aid})  # approved


async def crew_ok(world: Any) -> dict[str, Any]:
    aid = (await _assignment(world, "signed"))["assignment_id"]
    crew = [world.a.members[Role.WORKER].user_id, world.a.members[Role.SUPERVISOR].user_id]
    return {
        "headers": _owner(world),
        "path_params": {"assignment_id": aid},
        "json": {"user_ids": crew, "reason": "Second pair of hands"},
        "expect": _on(world, "assignment.crew_amended", aid),
    }


async def crew_fail(world: Any) -> dict[str, Any]:
    aid = (await _assignment(world, "signed"))["assignment_id"]
    return _failing(  # a member of no organization
        world,
        _owner(world),
        path_params={"assignment_id": aid},
        json={"user_ids": ["0" * 32]},
    )


# --------------------------------------------------------------------------- answers
async def _answer_ok(world: Any) -> dict[str, Any]:
    aid = (await _assignment(world, "signed", by_owner=True))["assignment_id"]
    return {
        "headers": _owner(world),
        "path_params": {"assignment_id": aid},
        "json": {"answers": {"isolated": "yes", "notes": "checked"}},
        "expect": _on(world, "answers.saved", aid),
    }


async def patch_answers_fail(world: Any) -> dict[str, Any]:
    aid = (await _assignment(world, "signed", by_owner=True))["assignment_id"]
    return _failing(  # an item the checklist does not have, with a valid one
        world,
        _owner(world),
        path_params={"assignment_id": aid},
        json={"answers": {"isolated": "yes", "nope": "x"}},
    )


async def put_answers_fail(world: Any) -> dict[str, Any]:
    aid = (await _assignment(world, "started"))["assignment_id"]
    return _failing(
        world,
        _auditor(world),
        path_params={"assignment_id": aid},
        json={"answers": {"isolated": "yes"}},
        events=["access.denied"],
    )


async def signoff_ok(world: Any) -> dict[str, Any]:
    aid = (await _assignment(world, "started", by_owner=True))["assignment_id"]
    return {
        "headers": _owner(world),
        "path_params": {"assignment_id": aid},
        "expect": _on(world, "assignment.signed_off", aid),
    }


async def signoff_fail(world: Any) -> dict[str, Any]:
    aid = (await _assignment(world, "started", by_owner=True))["assignment_id"]
    return _failing(  # a worker who is not on the crew: not found
        world, world.a.members[Role.WORKER].headers, path_params={"assignment_id": aid}
    )


async def submit_ok(world: Any) -> dict[str, Any]:
    aid = (await _assignment(world, "signed", by_owner=True))["assignment_id"]
    return {
        "headers": {**_owner(world), "Idempotency-Key": f"submit-{aid}"},
        "path_params": {"assignment_id": aid},
        "expect": _on(world, "assignment.submitted", aid),
    }


async def submit_fail(world: Any) -> dict[str, Any]:
    aid = (await _assignment(world, "started", by_owner=True))["assignment_id"]
    return _failing(world, _owner(world), path_params={"assignment_id": aid})  # not signed


# --------------------------------------------------------------------------- review
async def review_ok(world: Any) -> dict[str, Any]:
    sid = (await _assignment(world, "submitted"))["submission_id"]
    return {
        "headers": world.a.members[Role.SUPERVISOR].headers,
        "path_params": {"submission_id": sid},
        "json": {"decision": "reject", "comment": "Redo", "item_comments": {"notes": "More"}},
        "expect": _on(world, "submission.reviewed", sid, "submission"),
    }


async def review_fail(world: Any) -> dict[str, Any]:
    sid = (await _assignment(world, "submitted"))["submission_id"]
    return _failing(  # a rejection says why
        world,
        world.a.members[Role.SUPERVISOR].headers,
        path_params={"submission_id": sid},
        json={"decision": "reject"},
    )


async def void_ok(world: Any) -> dict[str, Any]:
    aid = (await _assignment(world, "approved"))["assignment_id"]
    return {
        "headers": world.a.members[Role.SUPERVISOR].headers,
        "path_params": {"assignment_id": aid},
        "json": {"reason": "Gas alarm"},
        "expect": _on(world, "clearance.voided", aid),
    }


async def void_fail(world: Any) -> dict[str, Any]:
    aid = (await _assignment(world, "approved"))["assignment_id"]
    return _failing(
        world,
        world.a.members[Role.WORKER].headers,  # the crew does not void
        path_params={"assignment_id": aid},
        json={"reason": "Gas alarm"},
        events=["access.denied"],
    )


# --------------------------------------------------------------------------- sync
async def _started_own(world: Any) -> str:
    return (await _assignment(world, "started", by_owner=True))["assignment_id"]


async def _session(world: Any, aid: str, headers: dict[str, str]) -> str:
    r = await world.client.post(
        "/api/sync", headers=headers, json={"action": "join_session", "assignment_id": aid}
    )
    assert r.status_code == 200, r.text
    session: str = r.json()["session_id"]
    return session


def _apply(aid: str, session: str, op: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "action": "apply_operation",
        "assignment_id": aid,
        "session_id": session,
        "op": op,
        "version": 1,
        "seq": 1,
    }


async def join_ok(world: Any) -> dict[str, Any]:
    aid = await _started_own(world)
    return {
        "headers": _owner(world),
        "json": {"action": "join_session", "assignment_id": aid},
        "expect": _on(world, "sync.joined", aid),
    }


async def join_fail(world: Any) -> dict[str, Any]:
    aid = await _started_own(world)
    return _failing(  # a supervisor not on the crew
        world,
        world.a.members[Role.SUPERVISOR].headers,
        json={"action": "join_session", "assignment_id": aid},
        events=["access.denied"],
    )


async def apply_ok(world: Any) -> dict[str, Any]:
    aid = await _started_own(world)
    session = await _session(world, aid, _owner(world))
    return {
        "headers": _owner(world),
        "json": _apply(aid, session, [{"p": ["answers", "notes"], "oi": "checked"}]),
        "expect": _on(world, "answers.edited", aid),
    }


async def apply_fail(world: Any) -> dict[str, Any]:
    aid = await _started_own(world)
    session = await _session(world, aid, _owner(world))
    return _failing(  # deletes an answer that is not there
        world,
        _owner(world),
        json=_apply(aid, session, [{"p": ["answers", "notes"], "od": "nothing"}]),
    )


async def apply_read_only_fail(world: Any) -> dict[str, Any]:
    aid = await _started_own(world)
    session = await _session(world, aid, _auditor(world))
    return _failing(
        world,
        _auditor(world),
        json=_apply(aid, session, [{"p": ["answers", "notes"], "oi": "x"}]),
        events=["access.denied"],
    )


async def operations_ok(world: Any) -> dict[str, Any]:
    aid = await _started_own(world)
    session = await _session(world, aid, _owner(world))
    return {  # a read: no event
        "headers": _owner(world),
        "json": {
            "action": "get_operations",
            "assignment_id": aid,
            "session_id": session,
            "since": 1,
        },
        "expect": lambda r: (world.a.org_id, []),
    }


async def operations_fail(world: Any) -> dict[str, Any]:
    aid = await _started_own(world)
    session = await _session(world, aid, _owner(world))
    return _failing(  # a version the document never had
        world,
        _owner(world),
        json={
            "action": "get_operations",
            "assignment_id": aid,
            "session_id": session,
            "since": 99,
        },
    )


async def leave_ok(world: Any) -> dict[str, Any]:
    aid = await _started_own(world)
    session = await _session(world, aid, _owner(world))
    return {
        "headers": _owner(world),
        "json": {"action": "leave_session", "assignment_id": aid, "session_id": session},
        "expect": _on(world, "sync.left", aid),
    }


async def leave_fail(world: Any) -> dict[str, Any]:
    aid = await _started_own(world)
    session = await _session(world, aid, _owner(world))
    return _failing(  # someone else's session
        world,
        _auditor(world),
        json={"action": "leave_session", "assignment_id": aid, "session_id": session},
    )


CASES = {
    ("POST", "/api/sync", "join_session"): {"ok": join_ok, "fail": join_fail},
    ("POST", "/api/sync", "apply_operation"): {"ok": apply_ok, "fail": apply_fail},
    ("POST", "/api/sync", "apply_operation (read-only)"): {
        "ok": apply_ok,
        "fail": apply_read_only_fail,
    },
    ("POST", "/api/sync", "get_operations"): {"ok": operations_ok, "fail": operations_fail},
    ("POST", "/api/sync", "leave_session"): {"ok": leave_ok, "fail": leave_fail},
    ("POST", "/api/assignments"): {"ok": create_ok, "fail": create_fail},
    ("PATCH", "/api/assignments/{assignment_id}"): {"ok": update_ok, "fail": update_fail},
    ("POST", "/api/assignments/{assignment_id}/start"): {"ok": start_ok, "fail": start_fail},
    ("POST", "/api/assignments/{assignment_id}/cancel"): {"ok": cancel_ok, "fail": cancel_fail},
    ("POST", "/api/assignments/{assignment_id}/crew"): {"ok": crew_ok, "fail": crew_fail},
    ("PATCH", "/api/assignments/{assignment_id}/answers"): {
        "ok": _answer_ok,
        "fail": patch_answers_fail,
    },
    ("PUT", "/api/assignments/{assignment_id}/answers"): {
        "ok": _answer_ok,
        "fail": put_answers_fail,
    },
    ("POST", "/api/assignments/{assignment_id}/signoff"): {
        "ok": signoff_ok,
        "fail": signoff_fail,
    },
    ("POST", "/api/assignments/{assignment_id}/submit"): {"ok": submit_ok, "fail": submit_fail},
    ("POST", "/api/submissions/{submission_id}/review"): {"ok": review_ok, "fail": review_fail},
    ("POST", "/api/assignments/{assignment_id}/clearance/void"): {
        "ok": void_ok,
        "fail": void_fail,
    },
}
