"""The whole pre-work flow as one story, through HTTP on both engines: register,
invite, certify, team, template, assign, start, fill in, sign off, submit with a
failing critical item, reject with an item comment, resubmit, approve, clearance
refused for the unqualified worker then granted once verified, voided, and the
audit log tells every step in order."""

from __future__ import annotations

from typing import Any

import httpx

from prework.core.principal import Role
from prework.store.base import Store

from ..identity.helpers import audit_items, error_code, join, make_tenant
from .helpers import CERT, assign, published_template, team_of


async def _certify(client: httpx.AsyncClient, member: Any) -> None:
    r = await client.patch(
        "/api/profiles/me",
        headers=member.headers,
        json={"certifications": [{"name": CERT, "expires_on": "2099-12-31"}]},
    )
    assert r.status_code == 200, r.text


async def test_the_whole_flow(client: httpx.AsyncClient, store: Store) -> None:
    tenant = await make_tenant(client, "Flow Org", roles=(Role.OWNER,))
    owner = tenant.owner
    supervisor = await join(client, owner, role=Role.SUPERVISOR)
    qualified = await join(client, owner, role=Role.WORKER)
    unverified = await join(client, owner, role=Role.WORKER)
    await _certify(client, qualified)
    await _certify(client, unverified)
    verify = "/api/users/{}/certifications/Confined%20space%20entry/verify"
    r = await client.post(verify.format(qualified.user_id), headers=supervisor.headers)
    assert r.status_code == 200, r.text

    team_id = await team_of(client, supervisor, qualified, unverified)
    template_id = await published_template(client, owner)
    a = await assign(client, supervisor, template_id, {"type": "team", "id": team_id})
    aid = a["id"]
    assert a["state"] == "assigned"
    assert a["crew"] is None
    base = f"/api/assignments/{aid}"

    # both workers see it in their own list before the start
    for worker in (qualified, unverified):
        r = await client.get("/api/assignments", headers=worker.headers)
        assert [x["id"] for x in r.json()["items"]] == [aid]

    r = await client.post(f"{base}/start", headers=qualified.headers)
    assert r.status_code == 200, r.text
    assert sorted(r.json()["crew"]) == sorted([qualified.user_id, unverified.user_id])

    # first round: isolation failed (critical), so the O2 item is hidden
    r = await client.patch(
        f"{base}/answers",
        headers=qualified.headers,
        json={"answers": {"isolated": "no", "notes": "valve seized"}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["answers"]["isolated"]["by"] == qualified.user_id
    r = await client.post(f"{base}/submit", headers=qualified.headers)
    assert r.status_code == 422
    assert error_code(r) == "submission_invalid"
    assert sorted(r.json()["error"]["details"]["missing_signoffs"]) == sorted(
        [qualified.user_id, unverified.user_id]
    )
    for worker in (qualified, unverified):
        r = await client.post(f"{base}/signoff", headers=worker.headers)
        assert r.status_code == 200, r.text
    r = await client.post(
        f"{base}/submit", headers={**qualified.headers, "Idempotency-Key": "submit-1"}
    )
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["number"] == 1
    assert first["failed_critical"] == ["isolated"]

    # the supervisor reviews it from the queue and rejects with an item comment
    r = await client.get("/api/reviews/queue", headers=supervisor.headers)
    assert [s["id"] for s in r.json()["items"]] == [first["id"]]
    r = await client.post(
        f"/api/submissions/{first['id']}/review",
        headers=supervisor.headers,
        json={
            "decision": "reject",
            "comment": "Isolate before entry",
            "item_comments": {"isolated": "Lock out the inlet valve"},
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "rejected"
    r = await client.get("/api/reviews/queue", headers=supervisor.headers)
    assert r.json()["items"] == []

    # second round: started again, fixed, signed again, resubmitted as version 2
    r = await client.post(f"{base}/start", headers=unverified.headers)
    assert r.status_code == 200, r.text
    r = await client.patch(
        f"{base}/answers",
        headers=unverified.headers,
        json={"answers": {"isolated": "yes", "o2": 20.9}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["signoffs"] == {}
    for worker in (qualified, unverified):
        r = await client.post(f"{base}/signoff", headers=worker.headers)
        assert r.status_code == 200, r.text
    r = await client.post(f"{base}/submit", headers=unverified.headers)
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["number"] == 2
    assert second["failed_critical"] == []
    r = await client.get(f"/api/submissions/{second['id']}", headers=supervisor.headers)
    assert r.json()["changes_from_previous"] == {
        "added": ["o2"],
        "removed": [],
        "changed": ["isolated"],
    }
    r = await client.post(
        f"/api/submissions/{second['id']}/review",
        headers=supervisor.headers,
        json={"decision": "approve"},
    )
    assert r.status_code == 200, r.text

    # approved, but one crew member's certification is not verified
    r = await client.get(f"{base}/clearance", headers=qualified.headers)
    body = r.json()
    assert body["cleared"] is False
    assert [(x["code"], x["details"].get("user_id")) for x in body["reasons"]] == [
        ("certification_unverified", unverified.user_id)
    ]
    r = await client.post(verify.format(unverified.user_id), headers=supervisor.headers)
    assert r.status_code == 200, r.text
    r = await client.get(f"{base}/clearance", headers=qualified.headers)
    assert r.json()["cleared"] is True, r.json()
    assert r.json()["reasons"] == []

    # stop work
    r = await client.post(
        f"{base}/clearance/void", headers=supervisor.headers, json={"reason": "Gas alarm"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["cleared"] is False
    assert [x["code"] for x in r.json()["reasons"]] == ["clearance_voided"]

    events = [
        (e["action"], e["actor_id"])
        for e in await audit_items(store, tenant.org_id)
        if e.get("target_id") in (aid, first["id"], second["id"])
    ]
    q, u, s = qualified.user_id, unverified.user_id, supervisor.user_id
    assert events == [
        ("assignment.created", s),
        ("assignment.started", q),
        ("answers.saved", q),
        ("assignment.signed_off", q),
        ("assignment.signed_off", u),
        ("assignment.submitted", q),
        ("submission.reviewed", s),
        ("assignment.started", u),
        ("answers.saved", u),
        ("assignment.signed_off", q),
        ("assignment.signed_off", u),
        ("assignment.submitted", u),
        ("submission.reviewed", s),
        ("clearance.voided", s),
    ]
