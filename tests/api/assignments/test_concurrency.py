"""Writers at once, through HTTP on both engines: two submits, a review racing a
resubmit, two reviewers, a sign-off racing an answer change. Exactly one of each
conflicting pair wins, the other gets a 409/422 with a stable code, and storage
(read back) holds the winner's change and nothing of the loser's."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from prework.pubsub.base import org_topic
from prework.store.base import Store

from ..identity.helpers import audit_items, error_code
from ..teams.helpers import drain
from .helpers import (
    CrewWorld,
    assign,
    ok,
    partition,
    stored_assignment,
    stored_doc,
    stored_reviews,
    stored_submissions,
)

LOSER_CODES = {(409, "invalid_transition"), (422, "submission_invalid"), (409, "stale_version")}


def _outcome(r: httpx.Response) -> tuple[int, str | None]:
    return (r.status_code, error_code(r) if r.status_code >= 400 else None)


async def test_a_submit_racing_another_submit_stores_one_submission(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    w, client = crew_world, module_client
    aid = await w.ready()
    url = f"/api/assignments/{aid}/submit"
    first, second = await asyncio.gather(
        client.post(url, headers={**w.w1.headers, "Idempotency-Key": "w1-submit"}),
        client.post(url, headers={**w.w2.headers, "Idempotency-Key": "w2-submit"}),
    )
    outcomes = sorted([_outcome(first), _outcome(second)], key=str)
    assert [o for o in outcomes if o == (201, None)] == [(201, None)], outcomes
    (loser,) = [o for o in outcomes if o != (201, None)]
    assert loser in LOSER_CODES, outcomes
    winner = first if first.status_code == 201 else second
    subs = await stored_submissions(module_store, w.org_id, aid)
    assert [s["id"] for s in subs] == [winner.json()["id"]]
    item = await stored_assignment(module_store, w.org_id, aid)
    assert (item["state"], item["submission_count"], item["latest_submission_id"]) == (
        "submitted",
        1,
        winner.json()["id"],
    )
    events = [
        e["action"]
        for e in await audit_items(module_store, w.org_id)
        if e["target_id"] == aid and e["action"] == "assignment.submitted"
    ]
    assert events == ["assignment.submitted"]


async def test_a_review_racing_a_resubmit_leaves_both_versions_consistent(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    w, client = crew_world, module_client
    aid, first_id = await w.submitted()
    base = f"/api/assignments/{aid}"
    await ok(
        client,
        "POST",
        f"/api/submissions/{first_id}/review",
        w.supervisor,
        json={"decision": "reject", "comment": "Second O2 sample"},
    )
    await ok(client, "POST", f"{base}/start", w.w1)
    await ok(client, "PATCH", f"{base}/answers", w.w1, json={"answers": {"o2": 20.8}})
    for member in (w.w1, w.w2):
        await ok(client, "POST", f"{base}/signoff", member)
    # an admin approves version 1 from a stale screen while the crew resubmits
    resubmit, late_review = await asyncio.gather(
        client.post(f"{base}/submit", headers=w.w2.headers),
        client.post(
            f"/api/submissions/{first_id}/review",
            headers=w.admin.headers,
            json={"decision": "approve"},
        ),
    )
    assert resubmit.status_code == 201, resubmit.text
    assert _outcome(late_review) in {(409, "already_reviewed"), (409, "not_latest_version")}
    subs = await stored_submissions(module_store, w.org_id, aid)
    assert [(s["number"], s["status"]) for s in subs] == [(1, "rejected"), (2, "pending")]
    (review,) = await stored_reviews(module_store, w.org_id, first_id)
    assert (review["decision"], review["reviewed_by"]) == ("reject", w.supervisor.user_id)
    item = await stored_assignment(module_store, w.org_id, aid)
    assert (item["state"], item["latest_submission_id"]) == ("submitted", subs[1]["id"])
    # now the late reviewer reviews the version that is current
    await ok(
        client,
        "POST",
        f"/api/submissions/{subs[1]['id']}/review",
        w.admin,
        json={"decision": "approve"},
    )
    assert (await stored_assignment(module_store, w.org_id, aid))["state"] == "approved"


async def test_two_supervisors_reviewing_at_once_one_wins(
    crew_world: CrewWorld,
    module_client: httpx.AsyncClient,
    module_store: Store,
    module_app: FastAPI,
) -> None:
    w, client = crew_world, module_client
    aid, sub_id = await w.submitted()
    url = f"/api/submissions/{sub_id}/review"
    bus = await module_app.state.pubsub.subscribe([org_topic(w.org_id)])
    approve, reject = await asyncio.gather(
        client.post(url, headers=w.supervisor.headers, json={"decision": "approve"}),
        client.post(
            url, headers=w.admin.headers, json={"decision": "reject", "comment": "Redo it"}
        ),
    )
    outcomes = sorted([_outcome(approve), _outcome(reject)], key=str)
    assert outcomes == sorted([(200, None), (409, "already_reviewed")], key=str), outcomes
    winner, decision, reviewer = (
        (approve, "approve", w.supervisor)
        if approve.status_code == 200
        else (reject, "reject", w.admin)
    )
    assert winner.json()["review"]["decision"] == decision
    (review,) = await stored_reviews(module_store, w.org_id, sub_id)
    assert (review["decision"], review["reviewed_by"]) == (decision, reviewer.user_id)
    (sub,) = await stored_submissions(module_store, w.org_id, aid)
    assert sub["status"] == ("approved" if decision == "approve" else "rejected")
    item = await stored_assignment(module_store, w.org_id, aid)
    assert item["state"] == sub["status"]
    reviewed = [
        e
        for e in await audit_items(module_store, w.org_id)
        if e["target_id"] == sub_id and e["action"] == "submission.reviewed"
    ]
    assert [e["actor_id"] for e in reviewed] == [reviewer.user_id]
    events = [e for e in await drain(bus) if e.get("submission_id") == sub_id]
    await bus.close()
    assert [(e["type"], e["decision"]) for e in events] == [("submission.reviewed", decision)]


async def test_a_signoff_racing_an_answer_change_is_consistent(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    """Whichever lands first, an answer saved after a sign-off clears it: a stored
    sign-off is always of the document as it is now."""
    w, client = crew_world, module_client
    aid = (await w.assign_team())["id"]
    base = f"/api/assignments/{aid}"
    await ok(client, "POST", f"{base}/start", w.w1)
    for round_ in range(4):
        signed, saved = await asyncio.gather(
            client.post(f"{base}/signoff", headers=w.w1.headers),
            client.patch(
                f"{base}/answers",
                headers=w.w2.headers,
                json={"answers": {"notes": f"round {round_}"}},
            ),
        )
        assert signed.status_code == 200, signed.text
        assert saved.status_code == 200, saved.text
        doc = await stored_doc(module_store, w.org_id, aid)
        assert doc["answers"]["notes"]["value"] == f"round {round_}"
        actions = tuple(
            e["action"]
            for e in await audit_items(module_store, w.org_id)
            if e["target_id"] == aid and e["action"] in ("answers.saved", "assignment.signed_off")
        )[-2:]
        if actions == ("assignment.signed_off", "answers.saved"):
            assert doc["signoffs"] == {}, doc  # the later answer cleared the sign-off
        else:
            assert actions == ("answers.saved", "assignment.signed_off"), actions
            assert list(doc["signoffs"]) == [w.w1.user_id]
            # signed the document as the answer left it
            assert doc["signoffs"][w.w1.user_id]["version"] == doc["version"] - 1
        # the next round starts unsigned
        if doc["signoffs"]:
            await ok(client, "PATCH", f"{base}/answers", w.w2, json={"answers": {"notes": None}})


async def test_a_start_racing_a_reassignment_fixes_the_crew_of_the_assignee_it_keeps(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    # the start computes the crew from the assignee it read; a reassignment landing
    # in between must not leave the old assignee's crew on the new assignee's job
    w, client = crew_world, module_client
    for round_ in range(6):
        created = await assign(
            client, w.supervisor, w.template_id, {"type": "user", "id": w.worker.user_id}
        )
        aid = created["id"]
        team = {"type": "team", "id": w.team_id}
        calls = [
            client.patch(
                f"/api/assignments/{aid}", headers=w.supervisor.headers, json={"assignee": team}
            ),
            client.post(f"/api/assignments/{aid}/start", headers=w.supervisor.headers),
        ]
        if round_ % 2:
            calls.reverse()
        answers = await asyncio.gather(*calls)
        patched, started = answers if round_ % 2 == 0 else answers[::-1]
        assert started.status_code == 200, started.text
        item = await stored_assignment(module_store, w.org_id, aid)
        entries = sorted(
            i["user_id"]
            for i in await partition(module_store, "assignments", w.org_id)
            if i.get("type") == "crew_entry" and i["assignment_id"] == aid
        )
        if patched.status_code == 200:  # reassigned first: the team's crew
            assert (item["assignee_type"], item["assignee_id"]) == ("team", w.team_id)
            assert sorted(item["crew"]) == sorted([w.w1.user_id, w.w2.user_id])
            assert entries == sorted(item["crew"])
        else:  # started first: the reassignment is refused, the user's crew stands
            assert _outcome(patched) == (409, "invalid_transition"), patched.text
            assert (item["assignee_type"], item["assignee_id"]) == ("user", w.worker.user_id)
            assert item["crew"] == [w.worker.user_id]
            assert entries == []
        assert started.json()["crew"] == item["crew"]
