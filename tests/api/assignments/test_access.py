"""Who may do what with assignments, through HTTP on both engines: a worker not on
the crew finds nothing; an auditor reads everything and changes nothing; a
supervisor on the crew cannot review it; a worker cannot assign. The crew is
fixed at the start; amending it clears every sign-off; the answers of hidden
items are cleared at submit."""

from __future__ import annotations

import time
from typing import Any

import httpx

from prework.authz.authorize import DENIAL_WINDOW_SECONDS
from prework.core.principal import Role
from prework.store.base import Store

from ..identity.helpers import audit_items, error_code, snapshot
from .helpers import CrewWorld, assign, ok, stored_doc, team_of


async def _ids(client: httpx.AsyncClient, url: str, by: Any, **params: Any) -> list[str]:
    body = await ok(client, "GET", url, by, params=params or None)
    return [x["id"] for x in body["items"]]


async def test_a_worker_not_on_the_crew_finds_nothing(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    w, client = crew_world, module_client
    aid, sub_id = await w.submitted()
    outsider = w.worker
    before = await snapshot(module_store, w.org_id)
    for method, path, json in (
        ("GET", "", None),
        ("GET", "/answers", None),
        ("GET", "/submissions", None),
        ("GET", "/clearance", None),
        ("POST", "/start", None),
        ("PATCH", "/answers", {"answers": {"notes": "me too"}}),
        ("PUT", "/answers", {"answers": {"notes": "me too"}}),
        ("POST", "/signoff", None),
        ("POST", "/submit", None),
    ):
        r = await client.request(
            method, f"/api/assignments/{aid}{path}", headers=outsider.headers, json=json
        )
        assert (r.status_code, error_code(r)) == (404, "not_found"), (method, path, r.text)
    r = await client.get(f"/api/submissions/{sub_id}", headers=outsider.headers)
    assert (r.status_code, error_code(r)) == (404, "not_found")
    assert aid not in await _ids(client, "/api/assignments", outsider)
    assert await snapshot(module_store, w.org_id) == before
    # the crew sees it
    assert (await ok(client, "GET", f"/api/assignments/{aid}", w.w2))["id"] == aid
    assert (await ok(client, "GET", f"/api/submissions/{sub_id}", w.w2))["id"] == sub_id


async def test_an_auditor_reads_everything_and_changes_nothing(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    w, client = crew_world, module_client
    auditor = w.auditor
    started = (await w.assign_team())["id"]
    await ok(client, "POST", f"/api/assignments/{started}/start", w.w1)
    aid, sub_id = await w.submitted()
    for url in (
        f"/api/assignments/{aid}",
        f"/api/assignments/{aid}/answers",
        f"/api/assignments/{aid}/submissions",
        f"/api/assignments/{aid}/clearance",
        f"/api/submissions/{sub_id}",
    ):
        await ok(client, "GET", url, auditor)
    assert {aid, started} <= set(await _ids(client, "/api/assignments", auditor))
    changes: list[tuple[str, str, Any]] = [
        (
            "POST",
            "/api/assignments",
            {
                "template_id": w.template_id,
                "assignee": {"type": "team", "id": w.team_id},
                "job_ref": "WO-A",
                "planned_start": "2030-01-01T07:00:00+00:00",
                "due_at": "2030-01-01T06:00:00+00:00",
            },
        ),
        ("PATCH", f"/api/assignments/{started}", {"job_ref": "WO-A"}),
        ("POST", f"/api/assignments/{started}/cancel", None),
        ("POST", f"/api/assignments/{started}/crew", {"user_ids": [w.w1.user_id]}),
        ("PATCH", f"/api/assignments/{started}/answers", {"answers": {"notes": "x"}}),
        ("PUT", f"/api/assignments/{started}/answers", {"answers": {"notes": "x"}}),
        ("POST", f"/api/assignments/{started}/signoff", None),
        ("POST", f"/api/assignments/{started}/submit", None),
        ("POST", f"/api/submissions/{sub_id}/review", {"decision": "approve"}),
        ("POST", f"/api/assignments/{aid}/clearance/void", {"reason": "Gas"}),
    ]
    r = await client.get("/api/reviews/queue", headers=auditor.headers)
    assert (r.status_code, error_code(r)) == (403, "forbidden")
    denied: set[tuple[str, str]] = set()  # (permission, target): a repeat is coalesced
    window = time.time() // DENIAL_WINDOW_SECONDS
    for method, url, json in changes:
        before = await snapshot(module_store, w.org_id)
        r = await client.request(method, url, headers=auditor.headers, json=json)
        assert (r.status_code, error_code(r)) == (403, "forbidden"), (method, url, r.text)
        after = await snapshot(module_store, w.org_id)
        old_events = before.pop("audit-log")
        new = [e for e in after.pop("audit-log") if e not in old_events]
        assert after == before, (method, url)
        for e in new:
            assert (e["action"], e["actor_id"]) == ("access.denied", auditor.user_id)
            key = (e["details"]["permission"], e["target_id"])
            # a repeat is coalesced within its window (a new window writes a new event)
            assert key not in denied or time.time() // DENIAL_WINDOW_SECONDS != window
            denied.add(key)
        assert len(new) <= 1, (method, url)
    # each permission asked on each target is audited (once per window)
    assert denied == {
        ("assignment.create", None),
        ("assignment.update", started),
        ("assignment.work", started),
        ("submission.review", sub_id),
        ("clearance.void", aid),
    }


async def test_a_supervisor_on_the_crew_cannot_review_it(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    w, client = crew_world, module_client
    foreman = await w.join(Role.SUPERVISOR)
    team_id = await team_of(client, w.supervisor, foreman, w.w1)
    aid = (await assign(client, w.supervisor, w.template_id, {"type": "team", "id": team_id}))["id"]
    base = f"/api/assignments/{aid}"
    await ok(client, "POST", f"{base}/start", foreman)
    await ok(client, "PATCH", f"{base}/answers", foreman, json={"answers": {"isolated": "na"}})
    for member in (foreman, w.w1):
        await ok(client, "POST", f"{base}/signoff", member)
    sub_id = (await ok(client, "POST", f"{base}/submit", foreman))["id"]
    # not in the foreman's queue; in another supervisor's
    assert sub_id not in await _ids(client, "/api/reviews/queue", foreman)
    assert sub_id in await _ids(client, "/api/reviews/queue", w.supervisor)
    before = await snapshot(module_store, w.org_id)
    r = await client.post(
        f"/api/submissions/{sub_id}/review", headers=foreman.headers, json={"decision": "approve"}
    )
    assert (r.status_code, error_code(r)) == (403, "own_work")
    after = await snapshot(module_store, w.org_id)
    # nothing changed but the audited denial
    denied = [e for e in after["audit-log"] if e not in before["audit-log"]]
    assert [(e["action"], e["actor_id"], e["target_id"]) for e in denied] == [
        ("access.denied", foreman.user_id, sub_id)
    ]
    assert {k: v for k, v in after.items() if k != "audit-log"} == {
        k: v for k, v in before.items() if k != "audit-log"
    }
    # a worker reviews nothing, nor sees the queue
    r = await client.post(
        f"/api/submissions/{sub_id}/review", headers=w.w2.headers, json={"decision": "approve"}
    )
    assert (r.status_code, error_code(r)) == (403, "forbidden")
    r = await client.get("/api/reviews/queue", headers=w.w2.headers)
    assert (r.status_code, error_code(r)) == (403, "forbidden")
    # someone not on the crew does
    await ok(
        client, "POST", f"/api/submissions/{sub_id}/review", w.admin, json={"decision": "approve"}
    )


async def test_a_worker_cannot_assign_nor_manage(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    w, client = crew_world, module_client
    aid = (await w.assign_team())["id"]
    before = await snapshot(module_store, w.org_id)
    for method, url, json in (
        (
            "POST",
            "/api/assignments",
            {
                "template_id": w.template_id,
                "assignee": {"type": "user", "id": w.w1.user_id},
                "job_ref": "WO-SELF",
                "planned_start": "2030-01-01T07:00:00+00:00",
                "due_at": "2030-01-01T06:00:00+00:00",
            },
        ),
        ("PATCH", f"/api/assignments/{aid}", {"job_ref": "WO-SELF"}),
        ("POST", f"/api/assignments/{aid}/cancel", None),
    ):
        r = await client.request(method, url, headers=w.w1.headers, json=json)
        assert (r.status_code, error_code(r)) == (403, "forbidden"), (method, url)
    after = await snapshot(module_store, w.org_id)
    assert {k: v for k, v in after.items() if k != "audit-log"} == {
        k: v for k, v in before.items() if k != "audit-log"
    }
    r = await client.get("/api/assignments", headers=w.w1.headers, params={"scope": "org"})
    assert (r.status_code, error_code(r)) == (403, "forbidden")


async def test_the_crew_is_fixed_at_the_start(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    w, client = crew_world, module_client
    leaver, joiner = await w.join(), await w.join()
    team_id = await team_of(client, w.supervisor, w.w1, leaver)
    aid = (await assign(client, w.supervisor, w.template_id, {"type": "team", "id": team_id}))["id"]
    base = f"/api/assignments/{aid}"
    started = await ok(client, "POST", f"{base}/start", w.w1)
    assert sorted(started["crew"]) == sorted([w.w1.user_id, leaver.user_id])
    members = f"/api/teams/{team_id}/members"
    await ok(client, "POST", members, w.supervisor, json={"members": [{"user_id": joiner.user_id}]})
    r = await client.request(
        "DELETE", members, headers=w.supervisor.headers, json={"user_ids": [leaver.user_id]}
    )
    assert r.status_code == 200, r.text
    # the joiner does not see it nor sign it
    assert aid not in await _ids(client, "/api/assignments", joiner)
    for method, path in (("GET", ""), ("POST", "/signoff")):
        r = await client.request(method, f"{base}{path}", headers=joiner.headers)
        assert (r.status_code, error_code(r)) == (404, "not_found")
    # the leaver still does both, and the crew submits without the joiner
    assert aid in await _ids(client, "/api/assignments", leaver)
    await ok(client, "GET", base, leaver)
    await ok(client, "PATCH", f"{base}/answers", leaver, json={"answers": {"isolated": "na"}})
    for member in (w.w1, leaver):
        await ok(client, "POST", f"{base}/signoff", member)
    sub = await ok(client, "POST", f"{base}/submit", leaver)
    assert sorted(sub["crew"]) == sorted([w.w1.user_id, leaver.user_id])


async def test_an_auditor_is_never_on_a_crew(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    """An auditor reads every job but fills in none: one on the team is left off the
    crew fixed at the start (else the job would wait for their sign-off forever), and
    one is neither an assignee nor a crew amendment's member (422, nothing written)."""
    w, client = crew_world, module_client
    auditor = await w.join(Role.AUDITOR)
    team_id = await team_of(client, w.supervisor, w.w1, auditor)
    aid = (await assign(client, w.supervisor, w.template_id, {"type": "team", "id": team_id}))["id"]
    base = f"/api/assignments/{aid}"
    started = await ok(client, "POST", f"{base}/start", w.w1)
    assert started["crew"] == [w.w1.user_id]
    assert aid in await _ids(client, "/api/assignments", auditor, scope="org")
    await ok(client, "PATCH", f"{base}/answers", w.w1, json={"answers": {"isolated": "na"}})
    await ok(client, "POST", f"{base}/signoff", w.w1)
    await ok(client, "POST", f"{base}/submit", w.w1)  # nobody else's sign-off is awaited
    # a team of auditors only has nobody to do the work
    idle_team = await team_of(client, w.supervisor, auditor)
    idle = await assign(client, w.supervisor, w.template_id, {"type": "team", "id": idle_team})
    r = await client.post(f"/api/assignments/{idle['id']}/start", headers=w.supervisor.headers)
    assert (r.status_code, error_code(r)) == (409, "empty_crew")
    before = await snapshot(module_store, w.org_id)
    r = await client.post(
        "/api/assignments",
        headers=w.supervisor.headers,
        json={
            "template_id": w.template_id,
            "assignee": {"type": "user", "id": auditor.user_id},
            "job_ref": "WO-A",
            "planned_start": "2030-01-01T08:00:00Z",
            "due_at": "2030-01-01T10:00:00Z",
        },
    )
    assert (r.status_code, error_code(r)) == (422, "member_cannot_work"), r.text
    assert await snapshot(module_store, w.org_id) == before
    ready = await w.ready()
    before = await snapshot(module_store, w.org_id)
    r = await client.post(
        f"/api/assignments/{ready}/crew",
        headers=w.supervisor.headers,
        json={"user_ids": [w.w1.user_id, auditor.user_id], "reason": "more eyes"},
    )
    assert (r.status_code, error_code(r)) == (422, "member_cannot_work"), r.text
    assert r.json()["error"]["details"]["user_ids"] == [auditor.user_id]
    assert await snapshot(module_store, w.org_id) == before


async def test_amending_the_crew_clears_every_signoff(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    w, client = crew_world, module_client
    aid = await w.ready()  # w1 and w2 signed
    base = f"/api/assignments/{aid}"
    newcomer = await w.join()
    before = await stored_doc(module_store, w.org_id, aid)
    assert sorted(before["signoffs"]) == sorted([w.w1.user_id, w.w2.user_id])
    amended = await ok(
        client,
        "POST",
        f"{base}/crew",
        w.supervisor,
        json={"user_ids": [w.w1.user_id, newcomer.user_id], "reason": "w2 off sick"},
    )
    assert amended["crew"] == [w.w1.user_id, newcomer.user_id]
    doc = await stored_doc(module_store, w.org_id, aid)
    assert doc["signoffs"] == {}
    assert doc["version"] == before["version"] + 1
    assert doc["answers"] == before["answers"]  # the answers stay
    (event,) = [
        e
        for e in await audit_items(module_store, w.org_id)
        if e["target_id"] == aid and e["action"] == "assignment.crew_amended"
    ]
    assert event["details"]["signoffs_cleared"] is True
    # the one taken off no longer sees it; the newcomer does and must sign
    r = await client.get(base, headers=w.w2.headers)
    assert (r.status_code, error_code(r)) == (404, "not_found")
    assert aid in await _ids(client, "/api/assignments", newcomer)
    r = await client.post(f"{base}/submit", headers=w.w1.headers)
    assert (r.status_code, error_code(r)) == (422, "submission_invalid")
    assert r.json()["error"]["details"]["missing_signoffs"] == [w.w1.user_id, newcomer.user_id]
    # the crew cannot hold a member twice, nor nobody
    for user_ids in ([w.w1.user_id, w.w1.user_id], []):
        r = await client.post(
            f"{base}/crew", headers=w.supervisor.headers, json={"user_ids": user_ids}
        )
        assert r.status_code == 422, r.text


async def test_hidden_answers_are_cleared_at_submit(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    w, client = crew_world, module_client
    aid = await w.ready()  # isolated = yes, o2 = 20.9
    base = f"/api/assignments/{aid}"
    # isolation fails: the O2 item is hidden now, its answer still in the document
    doc = await ok(client, "PATCH", f"{base}/answers", w.w2, json={"answers": {"isolated": "no"}})
    assert set(doc["answers"]) == {"isolated", "o2"}
    assert doc["signoffs"] == {}
    for member in (w.w1, w.w2):
        await ok(client, "POST", f"{base}/signoff", member)
    sub = await ok(client, "POST", f"{base}/submit", w.w1)
    assert sub["cleared_hidden"] == ["o2"]
    assert set(sub["answers"]) == {"isolated"}
    assert sub["failed_critical"] == ["isolated"]
    stored = await stored_doc(module_store, w.org_id, aid)
    assert set(stored["answers"]) == {"isolated"}
    # the submission is immutable: its answers are what it was given
    again = await ok(client, "GET", f"/api/submissions/{sub['id']}", w.supervisor)
    assert again["answers"] == sub["answers"]
    assert again["cleared_hidden"] == ["o2"]


async def test_a_supervisor_not_on_the_crew_reads_but_does_not_fill_it_in(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    w, client = crew_world, module_client
    aid = (await w.assign_team())["id"]
    await ok(client, "POST", f"/api/assignments/{aid}/start", w.w1)
    await ok(client, "GET", f"/api/assignments/{aid}/answers", w.supervisor)
    before = await snapshot(module_store, w.org_id)
    for method, path, json in (
        ("PATCH", "/answers", {"answers": {"notes": "not mine"}}),
        ("POST", "/signoff", None),
        ("POST", "/submit", None),
    ):
        r = await client.request(
            method, f"/api/assignments/{aid}{path}", headers=w.supervisor.headers, json=json
        )
        assert (r.status_code, error_code(r)) == (403, "not_on_crew"), (method, path, r.text)
    after = await snapshot(module_store, w.org_id)
    # nothing changed but the denial, audited once (the repeats are coalesced)
    denied = [e for e in after["audit-log"] if e not in before["audit-log"]]
    assert [(e["action"], e["actor_id"], e["target_id"]) for e in denied] == [
        ("access.denied", w.supervisor.user_id, aid)
    ]
    assert {k: v for k, v in after.items() if k not in ("audit-log", "sessions")} == {
        k: v for k, v in before.items() if k not in ("audit-log", "sessions")
    }


async def test_the_review_queue_pages_without_losing_any(
    crew_world: CrewWorld, module_client: httpx.AsyncClient
) -> None:
    w, client = crew_world, module_client
    mine = {(await w.submitted())[1] for _ in range(3)}
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        body = await ok(client, "GET", "/api/reviews/queue", w.supervisor, params=params)
        assert len(body["items"]) <= 1
        seen += [s["id"] for s in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert mine <= set(seen)
