"""Bad input on the assignment routes, through HTTP on both engines: unknown and
other organizations' ids, answers for items that do not exist, wrong types,
oversized bodies and answers, stale versions and illegal transitions. Each gets a
4xx with a stable code, and storage (read back) is as it was."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from prework.core.principal import Role
from prework.store.base import Store

from ..identity.helpers import error_code, make_tenant, snapshot
from .helpers import DEFINITION, CrewWorld, assign, ok, published_template, stored_doc

ID_ROUTES = (
    ("GET", "/api/assignments/{}", None),
    ("PATCH", "/api/assignments/{}", {"job_ref": "WO-X"}),
    ("POST", "/api/assignments/{}/start", None),
    ("POST", "/api/assignments/{}/cancel", None),
    ("POST", "/api/assignments/{}/crew", {"user_ids": ["0" * 32]}),
    ("GET", "/api/assignments/{}/answers", None),
    ("PATCH", "/api/assignments/{}/answers", {"answers": {"isolated": "yes"}}),
    ("PUT", "/api/assignments/{}/answers", {"answers": {"isolated": "yes"}}),
    ("POST", "/api/assignments/{}/signoff", None),
    ("POST", "/api/assignments/{}/submit", None),
    ("GET", "/api/assignments/{}/submissions", None),
    ("GET", "/api/assignments/{}/clearance", None),
    ("POST", "/api/assignments/{}/clearance/void", {"reason": "Gas"}),
)


async def _refused(
    client: httpx.AsyncClient,
    store: Store,
    org_id: str,
    method: str,
    url: str,
    headers: dict[str, str],
    json: Any = None,
) -> httpx.Response:
    """The answer of a call that must fail; the organization's storage is unchanged
    (its audit log included: none of these is a denial)."""
    before = await snapshot(store, org_id)
    r = await client.request(method, url, headers=headers, json=json)
    assert 400 <= r.status_code < 500, f"{method} {url}: {r.status_code} {r.text}"
    assert await snapshot(store, org_id) == before, f"{method} {url} changed storage"
    return r


async def test_unknown_and_other_organizations_ids_are_not_found(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    w, client = crew_world, module_client
    other = await make_tenant(client, "Other Org", roles=(Role.OWNER,))
    theirs = await assign(
        client,
        other.owner,
        await published_template(client, other.owner),
        {"type": "user", "id": other.owner.user_id},
    )
    _, sub_id = await w.submitted()  # ours, to ask the other organization about
    for assignment_id in (uuid.uuid4().hex, theirs["id"]):
        for method, path, json in ID_ROUTES:
            r = await _refused(
                client,
                module_store,
                w.org_id,
                method,
                path.format(assignment_id),
                w.owner.headers,
                json,
            )
            assert (r.status_code, error_code(r)) == (404, "not_found"), (method, path, r.text)
            assert theirs["id"] not in r.text
    for submission_id in (uuid.uuid4().hex, sub_id):
        for method, path, json in (
            ("GET", "/api/submissions/{}", None),
            ("POST", "/api/submissions/{}/review", {"decision": "approve"}),
        ):
            r = await _refused(
                client,
                module_store,
                other.org_id,
                method,
                path.format(submission_id),
                other.owner.headers,
                json,
            )
            assert (r.status_code, error_code(r)) == (404, "not_found"), (method, path, r.text)


async def test_create_refuses_unknown_templates_and_assignees(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    w, client = crew_world, module_client
    other = await make_tenant(client, "Foreign Org", roles=(Role.OWNER,))
    their_template = await published_template(client, other.owner)
    draft = await client.post(
        "/api/templates",
        headers=w.owner.headers,
        json={"name": "Draft only", "definition": DEFINITION},
    )
    assert draft.status_code == 201, draft.text
    base = {
        "template_id": w.template_id,
        "assignee": {"type": "team", "id": w.team_id},
        "job_ref": "WO-1",
        "planned_start": "2030-01-01T07:00:00+00:00",
        "due_at": "2030-01-01T06:00:00+00:00",
    }
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"template_id": uuid.uuid4().hex}, 404, "not_found"),
        ({"template_id": their_template}, 404, "not_found"),
        ({"template_version": 7}, 404, "not_found"),
        ({"assignee": {"type": "user", "id": uuid.uuid4().hex}}, 422, "unknown_member"),
        ({"assignee": {"type": "user", "id": other.owner.user_id}}, 422, "unknown_member"),
        ({"assignee": {"type": "team", "id": uuid.uuid4().hex}}, 422, "unknown_team"),
        ({"assignee": {"type": "crew", "id": w.team_id}}, 422, "validation_failed"),
        ({"due_at": "2030-01-01T06:00:00"}, 422, "validation_failed"),  # no time zone
        ({"due_at": "tomorrow"}, 422, "validation_failed"),
        ({"job_ref": ""}, 422, "validation_failed"),
        ({"coordinates": {"lat": 91, "lon": 0}}, 422, "validation_failed"),
        ({"unexpected": True}, 422, "validation_failed"),
        ({"template_id": draft.json()["id"]}, 409, "template_not_published"),
    ]
    for change, status, code in cases:
        r = await _refused(
            client,
            module_store,
            w.org_id,
            "POST",
            "/api/assignments",
            w.supervisor.headers,
            {**base, **change},
        )
        assert (r.status_code, error_code(r)) == (status, code), (change, r.text)


async def test_answers_for_unknown_items_and_wrong_types_are_reported_at_once(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    w, client = crew_world, module_client
    aid = (await w.assign_team())["id"]
    await ok(client, "POST", f"/api/assignments/{aid}/start", w.w1)
    await ok(
        client, "PATCH", f"/api/assignments/{aid}/answers", w.w1, json={"answers": {"notes": "a"}}
    )
    for method in ("PATCH", "PUT"):
        r = await _refused(
            client,
            module_store,
            w.org_id,
            method,
            f"/api/assignments/{aid}/answers",
            w.w1.headers,
            {"answers": {"isolated": 5, "o2": "high", "notes": ["x"], "nope": True}},
        )
        assert (r.status_code, error_code(r)) == (422, "invalid_answers")
        errors = {(e["item_id"], e["code"]) for e in r.json()["error"]["details"]["errors"]}
        assert errors == {
            ("isolated", "wrong_type"),
            ("o2", "wrong_type"),
            ("notes", "wrong_type"),
            ("nope", "unknown_item"),
        }
    for answers, problems in (
        ({"isolated": "maybe"}, {("isolated", "not_a_choice")}),
        ({"o2": 150}, {("o2", "out_of_range")}),
        ({"o2": 20.95}, {("o2", "too_precise")}),
        ({"o2": True}, {("o2", "wrong_type")}),
        ({"notes": "x" * 201}, {("notes", "too_long")}),  # the item's max_length is 200
    ):
        r = await _refused(
            client,
            module_store,
            w.org_id,
            "PATCH",
            f"/api/assignments/{aid}/answers",
            w.w1.headers,
            {"answers": answers},
        )
        assert (r.status_code, error_code(r)) == (422, "invalid_answers"), answers
        found = {(e["item_id"], e["code"]) for e in r.json()["error"]["details"]["errors"]}
        assert found == problems
    # a body that is not the shape: an item id that cannot be one, a missing map
    bodies: list[dict[str, Any]] = [{"answers": {"bad id!": 1}}, {"answer": {}}, {"answers": []}]
    for body in bodies:
        r = await _refused(
            client,
            module_store,
            w.org_id,
            "PATCH",
            f"/api/assignments/{aid}/answers",
            w.w1.headers,
            body,
        )
        assert (r.status_code, error_code(r)) == (422, "validation_failed"), body
    doc = await stored_doc(module_store, w.org_id, aid)
    assert {k: v["value"] for k, v in doc["answers"].items()} == {"notes": "a"}


async def test_a_2_mb_text_answer_is_too_large_before_it_is_parsed(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    w, client = crew_world, module_client
    aid = (await w.assign_team())["id"]
    await ok(client, "POST", f"/api/assignments/{aid}/start", w.w1)
    for method in ("PATCH", "PUT"):
        r = await _refused(
            client,
            module_store,
            w.org_id,
            method,
            f"/api/assignments/{aid}/answers",
            w.w1.headers,
            {"answers": {"notes": "x" * (2 * 1024 * 1024)}},
        )
        assert (r.status_code, error_code(r)) == (413, "too_large")
        assert r.json()["error"]["details"]["max_bytes"] == 1024 * 1024


async def test_a_document_past_its_limit_is_refused_with_its_code(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    """Under the body limit, but the stored answers would pass the document's."""
    w, client = crew_world, module_client
    items = [
        {"id": f"t{n}", "type": "text", "label": f"Text {n}", "max_length": 10_000}
        for n in range(40)
    ]
    definition = {"sections": [{"id": "s", "title": "Long", "items": items}]}
    template_id = await published_template(client, w.owner, definition)
    a = await assign(client, w.supervisor, template_id, {"type": "user", "id": w.w1.user_id})
    aid = a["id"]
    await ok(client, "POST", f"/api/assignments/{aid}/start", w.w1)
    half = {f"t{n}": "y" * 10_000 for n in range(20)}
    await ok(client, "PATCH", f"/api/assignments/{aid}/answers", w.w1, json={"answers": half})
    rest = {f"t{n}": "z" * 10_000 for n in range(20, 40)}
    r = await _refused(
        client,
        module_store,
        w.org_id,
        "PATCH",
        f"/api/assignments/{aid}/answers",
        w.w1.headers,
        {"answers": rest},
    )
    assert (r.status_code, error_code(r)) == (422, "document_too_large")
    assert r.json()["error"]["details"]["max_bytes"] < 400 * 1024


async def test_stale_versions_are_409_with_the_current_version(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    w, client = crew_world, module_client
    a = await w.assign_team()
    aid = a["id"]
    r = await client.patch(
        f"/api/assignments/{aid}",
        headers={**w.supervisor.headers, "If-Match": '"1"'},
        json={"job_ref": "WO-2"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"2"'
    for headers, body in (
        ({"If-Match": '"1"'}, {"job_ref": "WO-3"}),
        ({}, {"job_ref": "WO-3", "version": 1}),
    ):
        r = await _refused(
            client,
            module_store,
            w.org_id,
            "PATCH",
            f"/api/assignments/{aid}",
            {**w.supervisor.headers, **headers},
            body,
        )
        assert (r.status_code, error_code(r)) == (409, "stale_version")
        assert r.json()["error"]["details"]["current_version"] == 2
    # If-Match that is not one of ours, or that disagrees with the body
    for headers, body in (
        ({"If-Match": "abc"}, {"job_ref": "WO-3"}),
        ({"If-Match": '"2"'}, {"job_ref": "WO-3", "version": 1}),
    ):
        r = await _refused(
            client,
            module_store,
            w.org_id,
            "PATCH",
            f"/api/assignments/{aid}",
            {**w.supervisor.headers, **headers},
            body,
        )
        assert (r.status_code, error_code(r)) == (422, "invalid_if_match")

    await ok(client, "POST", f"/api/assignments/{aid}/start", w.w1)
    r = await client.patch(
        f"/api/assignments/{aid}/answers",
        headers={**w.w1.headers, "If-Match": '"1"'},
        json={"answers": {"isolated": "yes"}},
    )
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"2"'
    stale: list[tuple[str, str, dict[str, str], Any]] = [
        ("PATCH", "answers", {"If-Match": '"1"'}, {"answers": {"isolated": "no"}}),
        ("PUT", "answers", {}, {"answers": {"isolated": "no"}, "version": 1}),
        ("POST", "signoff", {"If-Match": '"1"'}, None),
        ("POST", "signoff", {}, {"version": 1}),
        ("POST", "submit", {"If-Match": '"1"'}, None),
    ]
    for method, path, headers, body in stale:
        r = await _refused(
            client,
            module_store,
            w.org_id,
            method,
            f"/api/assignments/{aid}/{path}",
            {**w.w2.headers, **headers},
            body,
        )
        assert (r.status_code, error_code(r)) == (409, "stale_version"), (method, path)
        assert r.json()["error"]["details"]["current_version"] == 2
    # the current version is taken
    r = await client.post(
        f"/api/assignments/{aid}/signoff", headers={**w.w2.headers, "If-Match": '"2"'}
    )
    assert r.status_code == 200, r.text
    assert list(r.json()["signoffs"]) == [w.w2.user_id]


async def test_illegal_transitions_name_the_state(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    w, client = crew_world, module_client
    sup = w.supervisor

    async def refused(method: str, url: str, by: Any, state: str, json: Any = None) -> None:
        r = await _refused(client, module_store, w.org_id, method, url, by.headers, json)
        assert (r.status_code, error_code(r)) == (409, "invalid_transition"), (url, r.text)
        details = r.json()["error"]["details"]
        assert details["state"] == state
        if details["action"] != "reassign":  # that one says to amend the crew instead
            assert state in r.json()["error"]["message"]

    # before the start: no answers, no sign-off, no submit, no crew amendment
    aid = (await w.assign_team())["id"]
    base = f"/api/assignments/{aid}"
    await refused("POST", f"{base}/submit", w.w1, "assigned")
    await refused("POST", f"{base}/signoff", w.w1, "assigned")
    await refused("PATCH", f"{base}/answers", w.w1, "assigned", {"answers": {"isolated": "no"}})
    await refused("POST", f"{base}/crew", sup, "assigned", {"user_ids": [w.w1.user_id]})
    await refused("POST", f"{base}/clearance/void", sup, "assigned", {"reason": "Gas"})
    # started: not twice, and the assignee stays
    await ok(client, "POST", f"{base}/start", w.w1)
    await refused("POST", f"{base}/start", w.w2, "in_progress")
    await refused(
        "PATCH", base, sup, "in_progress", {"assignee": {"type": "user", "id": w.w1.user_id}}
    )
    # cancelled: nothing more, approving its submission included
    aid, sub_id = await w.submitted()
    base = f"/api/assignments/{aid}"
    await refused("POST", f"{base}/start", w.w1, "submitted")
    await refused("PATCH", f"{base}/answers", w.w1, "submitted", {"answers": {"notes": "late"}})
    await ok(client, "POST", f"{base}/cancel", sup, json={"reason": "Job moved"})
    await refused(
        "POST", f"/api/submissions/{sub_id}/review", sup, "cancelled", {"decision": "approve"}
    )
    await refused("POST", f"{base}/cancel", sup, "cancelled")
    await refused("POST", f"{base}/start", w.w1, "cancelled")
    await refused("PATCH", base, sup, "cancelled", {"job_ref": "WO-9"})
    # approved: not cancelled, not started, not reviewed again
    aid, sub_id = await w.submitted()
    base = f"/api/assignments/{aid}"
    await ok(client, "POST", f"/api/submissions/{sub_id}/review", sup, json={"decision": "approve"})
    await refused("POST", f"{base}/cancel", sup, "approved")
    await refused("POST", f"{base}/start", w.w1, "approved")
    await refused("POST", f"{base}/crew", sup, "approved", {"user_ids": [w.w1.user_id]})
    r = await _refused(
        client,
        module_store,
        w.org_id,
        "POST",
        f"/api/submissions/{sub_id}/review",
        w.admin.headers,
        {"decision": "reject", "comment": "No"},
    )
    assert (r.status_code, error_code(r)) == (409, "already_reviewed")
    await ok(client, "POST", f"{base}/clearance/void", sup, json={"reason": "Gas"})
    r = await _refused(
        client,
        module_store,
        w.org_id,
        "POST",
        f"{base}/clearance/void",
        sup.headers,
        {"reason": "Again"},
    )
    assert (r.status_code, error_code(r)) == (409, "already_voided")


async def test_bad_review_bodies(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, module_store: Store
) -> None:
    w, client = crew_world, module_client
    _, sub_id = await w.submitted()
    url = f"/api/submissions/{sub_id}/review"
    for body, status, code in (
        ({"decision": "reject"}, 422, "comment_required"),
        (
            {"decision": "reject", "comment": "No", "item_comments": {"nope": "x"}},
            422,
            "unknown_item",
        ),
        ({"decision": "maybe"}, 422, "validation_failed"),
        ({"decision": "approve", "item_comments": {"o2": ""}}, 422, "validation_failed"),
        ({}, 422, "validation_failed"),
    ):
        r = await _refused(client, module_store, w.org_id, "POST", url, w.supervisor.headers, body)
        assert (r.status_code, error_code(r)) == (status, code), body


@pytest.mark.parametrize("when", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00"])
async def test_a_time_past_the_calendar_in_utc_is_refused(
    crew_world: CrewWorld, module_client: httpx.AsyncClient, when: str
) -> None:
    w, client = crew_world, module_client
    r = await client.post(
        "/api/assignments",
        headers=w.supervisor.headers,
        json={
            "template_id": w.template_id,
            "assignee": {"type": "team", "id": w.team_id},
            "job_ref": "WO-EDGE",
            "planned_start": when,
            "due_at": when,
        },
    )
    assert (r.status_code, error_code(r)) == (422, "invalid_time"), r.text
    r = await client.get(
        "/api/assignments", headers=w.supervisor.headers, params={"due_from": when}
    )
    assert (r.status_code, error_code(r)) == (422, "invalid_time"), r.text
