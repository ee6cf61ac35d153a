"""Events of the work on the bus, through HTTP on both engines: published after
the change commits (a listener that reads storage on each event finds the
change), none for a refused change; and the overdue check (once per assignment,
audited as the system, announced; a second run does nothing)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from prework.pubsub.base import Subscription, org_topic
from prework.store.base import Store

from ..identity.helpers import audit_items, error_code
from ..teams.helpers import drain
from .helpers import CrewWorld, iso, ok, stored_assignment, stored_submissions


async def _listen(
    bus: Subscription,
    store: Store,
    org_id: str,
    seen: list[tuple[dict[str, Any], Any]],
    last: asyncio.Event,
) -> None:
    """On each event, read what it announces from storage at once; ``last`` is set
    on the voided clearance's."""
    async for message in bus:
        event = message.event
        aid = event.get("assignment_id")
        if aid is None:
            continue
        item = await stored_assignment(store, org_id, aid)
        subs = [s["id"] for s in await stored_submissions(store, org_id, aid)]
        seen.append((event, (item["state"], subs)))
        if event["type"] == "clearance.changed" and event.get("voided"):
            last.set()


async def test_the_work_s_events_follow_their_commits(
    crew_world: CrewWorld,
    module_client: httpx.AsyncClient,
    module_store: Store,
    module_app: FastAPI,
) -> None:
    w, client = crew_world, module_client
    bus = await module_app.state.pubsub.subscribe([org_topic(w.org_id)])
    seen: list[tuple[dict[str, Any], Any]] = []
    last = asyncio.Event()
    listener = asyncio.create_task(_listen(bus, module_store, w.org_id, seen, last))
    try:
        aid = (await w.assign_team())["id"]
        base = f"/api/assignments/{aid}"
        await ok(client, "POST", f"{base}/start", w.w1)
        await ok(client, "PATCH", f"{base}/answers", w.w1, json={"answers": {"isolated": "yes"}})
        # refused changes announce nothing
        r = await client.patch(
            f"{base}/answers", headers=w.w1.headers, json={"answers": {"isolated": 3}}
        )
        assert r.status_code == 422
        r = await client.post(f"{base}/submit", headers=w.w1.headers)
        assert (r.status_code, error_code(r)) == (422, "submission_invalid")
        r = await client.post(f"{base}/start", headers=w.w1.headers)
        assert r.status_code == 409
        await ok(client, "PATCH", f"{base}/answers", w.w2, json={"answers": {"o2": 20.9}})
        for member in (w.w1, w.w2):
            await ok(client, "POST", f"{base}/signoff", member)
        sub = await ok(client, "POST", f"{base}/submit", w.w1)
        await ok(
            client,
            "POST",
            f"/api/submissions/{sub['id']}/review",
            w.supervisor,
            json={"decision": "approve"},
        )
        await ok(client, "POST", f"{base}/clearance/void", w.supervisor, json={"reason": "Gas"})
        await asyncio.wait_for(last.wait(), 5)  # the listener has read them all
    finally:
        listener.cancel()
        await bus.close()
    ours = [(e, stored) for e, stored in seen if e["assignment_id"] == aid]
    assert [e["type"] for e, _ in ours] == [
        "assignment.created",
        "assignment.started",
        "answers.saved",
        "answers.saved",
        "assignment.signed_off",
        "assignment.signed_off",
        "assignment.submitted",
        "submission.reviewed",
        "clearance.changed",
        "clearance.changed",
    ]
    assert all(e["org_id"] == w.org_id and e["at"] for e, _ in ours)
    by_type = {e["type"]: (e, stored) for e, stored in ours}
    # what each event announces is stored when it arrives
    event, (state, subs) = by_type["assignment.started"]
    assert sorted(event["crew"]) == sorted([w.w1.user_id, w.w2.user_id])
    assert state != "assigned"
    event, (state, subs) = by_type["assignment.submitted"]
    assert subs == [sub["id"]] == [event["submission_id"]]
    assert state != "in_progress"
    event, (state, subs) = by_type["submission.reviewed"]
    assert (event["decision"], state) == ("approve", "approved")
    assert [e.get("voided") for e, _ in ours if e["type"] == "clearance.changed"] == [None, True]


async def test_the_overdue_check_marks_once(
    crew_world: CrewWorld,
    module_client: httpx.AsyncClient,
    module_store: Store,
    module_app: FastAPI,
) -> None:
    w, client = crew_world, module_client
    sweep = module_app.state.services.checklists.assignments.sweep_overdue
    assert await sweep() == 0  # nothing of the other tests is past due
    past = timedelta(minutes=-30)
    assigned = (await w.assign_team(due_in=past))["id"]
    started = (await w.assign_team(due_in=past))["id"]
    await ok(client, "POST", f"/api/assignments/{started}/start", w.w1)
    done = (await w.assign_team(due_in=past))["id"]
    await ok(client, "POST", f"/api/assignments/{done}/start", w.w1)
    await ok(
        client,
        "PATCH",
        f"/api/assignments/{done}/answers",
        w.w1,
        json={"answers": {"isolated": "na"}},
    )
    for member in (w.w1, w.w2):
        await ok(client, "POST", f"/api/assignments/{done}/signoff", member)
    await ok(client, "POST", f"/api/assignments/{done}/submit", w.w1)
    cancelled = (await w.assign_team(due_in=past))["id"]
    await ok(client, "POST", f"/api/assignments/{cancelled}/cancel", w.supervisor)
    later = (await w.assign_team(due_in=timedelta(hours=1)))["id"]

    bus = await module_app.state.pubsub.subscribe([org_topic(w.org_id)])
    try:
        assert await sweep() == 2
        first = await drain(bus, quiet=0.1)
        assert await sweep() == 0  # once each
        second = await drain(bus, quiet=0.1)
    finally:
        await bus.close()
    assert sorted((e["type"], e["assignment_id"]) for e in first) == sorted(
        [("assignment.overdue", assigned), ("assignment.overdue", started)]
    )
    assert second == []
    for aid, overdue in (
        (assigned, True),
        (started, True),
        (done, False),
        (cancelled, False),
        (later, False),
    ):
        body = await ok(client, "GET", f"/api/assignments/{aid}", w.supervisor)
        assert body["overdue"] is overdue, aid
    marked = [
        e for e in await audit_items(module_store, w.org_id) if e["action"] == "assignment.overdue"
    ]
    assert sorted(e["target_id"] for e in marked) == sorted([assigned, started])
    assert {(e["actor_type"], e["actor_id"]) for e in marked} == {("system", "system")}

    # a new due time is judged again: in the future it is no longer overdue ...
    future = iso(datetime.now(UTC) + timedelta(hours=3))
    body = await ok(
        client, "PATCH", f"/api/assignments/{assigned}", w.supervisor, json={"due_at": future}
    )
    assert body["overdue"] is False
    assert await sweep() == 0
    # ... and past due again, it is marked again, once
    again = iso(datetime.now(UTC) - timedelta(minutes=5))
    await ok(client, "PATCH", f"/api/assignments/{assigned}", w.supervisor, json={"due_at": again})
    assert await sweep() == 1
    assert await sweep() == 0
    assert (await ok(client, "GET", f"/api/assignments/{assigned}", w.supervisor))[
        "overdue"
    ] is True


async def test_a_crew_member_s_certification_change_announces_their_clearances(
    crew_world: CrewWorld,
    module_client: httpx.AsyncClient,
    module_app: FastAPI,
) -> None:
    w, client = crew_world, module_client
    aid, sub_id = await w.submitted()
    await ok(
        client,
        "POST",
        f"/api/submissions/{sub_id}/review",
        w.supervisor,
        json={"decision": "approve"},
    )
    other = (await w.assign_team())["id"]  # not approved: nothing to announce
    bus = await module_app.state.pubsub.subscribe([org_topic(w.org_id)])
    try:
        await ok(
            client,
            "PATCH",
            "/api/profiles/me",
            w.w1,
            json={"certifications": [{"name": "Confined space entry", "expires_on": "2099-01-01"}]},
        )
        edited = [e for e in await drain(bus) if e["type"] == "clearance.changed"]
        assert [(e["assignment_id"], e["user_id"]) for e in edited] == [(aid, w.w1.user_id)]
        await ok(
            client,
            "POST",
            f"/api/users/{w.w1.user_id}/certifications/Confined%20space%20entry/verify",
            w.supervisor,
        )
        verified = [e for e in await drain(bus) if e["type"] == "clearance.changed"]
        assert [e["assignment_id"] for e in verified] == [aid]
        assert other not in [e["assignment_id"] for e in edited + verified]
        # someone on no approved crew: no notice
        await ok(client, "PATCH", "/api/profiles/me", w.owner, json={"certifications": []})
        assert [e for e in await drain(bus) if e["type"] == "clearance.changed"] == []
    finally:
        await bus.close()


async def test_two_sweeps_at_once_mark_once_and_a_rejection_is_watched_again(
    crew_world: CrewWorld,
    module_client: httpx.AsyncClient,
    module_store: Store,
    module_app: FastAPI,
) -> None:
    w, client = crew_world, module_client
    service = module_app.state.services.checklists.assignments
    await service.sweep_overdue()  # what other tests left past due
    due = (await w.assign_team(due_in=timedelta(minutes=-5)))["id"]
    results = await asyncio.gather(service.sweep_overdue(), service.sweep_overdue())
    assert sorted(results) == [0, 1]
    events = [
        e
        for e in await audit_items(module_store, w.org_id)
        if e["action"] == "assignment.overdue" and e["target_id"] == due
    ]
    assert len(events) == 1
    # submitted in time, rejected, then past due: it is overdue once it is open again
    aid, sub_id = await w.submitted()
    await ok(
        client,
        "POST",
        f"/api/submissions/{sub_id}/review",
        w.supervisor,
        json={"decision": "reject", "comment": "Again"},
    )
    real_clock = service.clock
    service.clock = lambda: real_clock() + 3 * 3600  # the crew's due time (2 h) has passed
    try:
        assert await service.sweep_overdue() >= 1  # (and what else the module left open)
    finally:
        service.clock = real_clock
    assert (await stored_assignment(module_store, w.org_id, aid))["overdue_at"] is not None


async def test_an_unversioned_change_racing_the_overdue_check_keeps_the_mark(
    crew_world: CrewWorld,
    module_client: httpx.AsyncClient,
    module_store: Store,
    module_app: FastAPI,
) -> None:
    # a PATCH without If-Match plans its write on what it read; the check marking the
    # assignment overdue meanwhile raises its version, so the PATCH plans again
    # instead of writing the mark away with its stale copy
    w, client = crew_world, module_client
    service = module_app.state.services.checklists.assignments
    await service.sweep_overdue()  # what other tests left past due
    for n in range(4):
        aid = (await w.assign_team(due_in=timedelta(minutes=-5)))["id"]
        patch = client.patch(
            f"/api/assignments/{aid}", headers=w.supervisor.headers, json={"title": f"Renamed {n}"}
        )
        calls = [patch, service.sweep_overdue()] if n % 2 else [service.sweep_overdue(), patch]
        done = await asyncio.gather(*calls)
        r = done[0] if n % 2 else done[1]
        assert r.status_code == 200, r.text
        item = await stored_assignment(module_store, w.org_id, aid)
        assert item["title"] == f"Renamed {n}"
        assert item["overdue_at"] is not None
        body = await ok(client, "GET", f"/api/assignments/{aid}", w.supervisor)
        assert (body["overdue"], body["version"]) == (True, item["version"])
