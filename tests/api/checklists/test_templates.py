"""Checklist templates through HTTP on both engines: drafts, publish, versions, retire,
export/import, validation, permissions and the concurrency of publishing."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import httpx

from prework.core.principal import Role
from prework.pubsub.base import org_topic

from ..identity.coverage import World
from ..identity.helpers import audit_items, error_code
from .definitions import small, template_items, with_items


async def _create(world: World, definition: dict[str, Any] | None = None, **extra: Any) -> Any:
    r = await world.client.post(
        "/api/templates",
        headers=world.a.owner.headers,
        json={"name": "Confined space", "definition": definition or small(), **extra},
    )
    assert r.status_code == 201, r.text
    return r.json()


def _errors(r: httpx.Response) -> list[tuple[str, str]]:
    assert r.status_code == 422, r.text
    assert error_code(r) == "invalid_template", r.text
    return [(e["path"], e["code"]) for e in r.json()["error"]["details"]["errors"]]


def _shape_errors(r: httpx.Response) -> list[tuple[list[Any], str]]:
    assert r.status_code == 422, r.text
    assert error_code(r) == "validation_failed", r.text
    return [(f["loc"], f["type"]) for f in r.json()["error"]["details"]["fields"]]


async def test_draft_publish_versions_lifecycle(world: World) -> None:
    c, owner = world.client, world.a.owner.headers
    created = await _create(world, description="Before entering a tank")
    tid = created["id"]
    assert created["status"] == "draft"
    assert created["latest_version"] == 0
    assert created["version"] == 1
    assert created["definition"]["sections"][0]["items"][0]["fail_when"] == {
        "op": "equals",
        "value": "no",
    }

    r = await c.get(f"/api/templates/{tid}", headers=owner)
    assert r.status_code == 200
    assert r.headers["ETag"] == '"1"'

    r = await c.post(f"/api/templates/{tid}/publish", headers=owner)
    assert r.status_code == 200, r.text
    v1 = r.json()
    assert v1["number"] == 1
    assert v1["published_by"] == world.a.owner.user_id

    # edit the draft under If-Match; a stale If-Match is 409 with the current version
    edited = small("Isolation double-checked")
    r = await c.patch(
        f"/api/templates/{tid}",
        headers={**owner, "If-Match": '"2"'},
        json={"definition": edited, "name": "Confined space v2"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["has_unpublished_changes"] is True
    assert r.json()["version"] == 3
    r = await c.patch(
        f"/api/templates/{tid}", headers={**owner, "If-Match": '"2"'}, json={"name": "x"}
    )
    assert r.status_code == 409
    assert error_code(r) == "stale_version"
    assert r.json()["error"]["details"]["current_version"] == 3

    r = await c.post(f"/api/templates/{tid}/publish", headers=owner, json={"version": 3})
    assert r.status_code == 200, r.text
    assert r.json()["number"] == 2
    # nothing new to publish
    r = await c.post(f"/api/templates/{tid}/publish", headers=owner)
    assert r.status_code == 409
    assert error_code(r) == "already_published"

    # version 1 is frozen: what a crew signed never changes
    r = await c.get(
        f"/api/templates/{tid}/versions/1", headers=world.a.members[Role.WORKER].headers
    )
    assert r.status_code == 200
    assert r.json()["definition"] == v1["definition"]
    assert r.json()["name"] == "Confined space"
    r = await c.get(f"/api/templates/{tid}/versions/2", headers=owner)
    assert r.json()["definition"]["sections"][0]["items"][0]["label"] == "Isolation double-checked"
    r = await c.get(f"/api/templates/{tid}/versions/3", headers=owner)
    assert r.status_code == 404

    events = [(e["action"], e["target_id"]) for e in await audit_items(world.store, world.a.org_id)]
    for action in ("template.created", "template.published", "template.updated"):
        assert (action, tid) in events


async def test_who_may_do_what(world: World) -> None:
    c = world.client
    tid = (await _create(world))["id"]
    draft_only = (await _create(world))["id"]
    r = await c.post(f"/api/templates/{tid}/publish", headers=world.a.owner.headers)
    assert r.status_code == 200
    for role in (Role.SUPERVISOR, Role.WORKER, Role.AUDITOR):
        h = world.a.members[role].headers
        r = await c.post("/api/templates", headers=h, json={"name": "n", "definition": small()})
        assert r.status_code == 403, role
        r = await c.patch(f"/api/templates/{tid}", headers=h, json={"name": "n"})
        assert r.status_code == 403, role
        r = await c.post(f"/api/templates/{tid}/publish", headers=h)
        assert r.status_code == 403, role
        r = await c.get(f"/api/templates/{tid}/versions/1", headers=h)
        assert r.status_code == 200, role
    admin = world.a.members[Role.ADMIN].headers
    r = await c.patch(f"/api/templates/{tid}", headers=admin, json={"name": "By admin"})
    assert r.status_code == 200
    # drafts: owners, admins, auditors; workers list only published templates
    assert (
        await c.get(f"/api/templates/{tid}", headers=world.a.members[Role.AUDITOR].headers)
    ).status_code == 200
    assert (
        await c.get(f"/api/templates/{tid}", headers=world.a.members[Role.WORKER].headers)
    ).status_code == 403
    r = await c.get(
        "/api/templates", headers=world.a.members[Role.WORKER].headers, params={"limit": 200}
    )
    ids = {t["id"] for t in r.json()["items"]}
    assert tid in ids
    assert draft_only not in ids
    r = await c.get("/api/templates", headers=world.a.owner.headers, params={"limit": 200})
    assert {tid, draft_only} <= {t["id"] for t in r.json()["items"]}
    assert "definition" not in r.json()["items"][0]


async def test_every_rule_broken_is_reported_at_once_and_nothing_is_stored(world: World) -> None:
    bad = small()
    items = bad["sections"][0]["items"]
    items[2]["id"] = "isolated"  # duplicate id
    items[1]["visible_when"] = {"op": "equals", "item": "notes", "value": "x"}  # later item
    items[3]["visible_when"] = {"op": "equals", "item": "o2", "value": 5}  # o2 -> notes -> o2
    items[4]["choices"].append({"value": "helmet", "label": "Again"})
    items[5]["visible_when"] = {"op": "any_of", "item": "ppe", "values": ["gloves"]}
    items[6]["visible_when"] = {"op": "equals", "item": "nope", "value": 1}
    items[0]["fail_when"] = {"op": "equals", "value": "maybe"}
    items[8]["min_count"] = 3
    items[8]["max_count"] = 1
    items[9]["critical"] = True
    before = await template_items(world.store, world.a.org_id)
    r = await world.client.post(
        "/api/templates", headers=world.a.owner.headers, json={"name": "Bad", "definition": bad}
    )
    found = set(_errors(r))
    p = "sections[0].items"
    assert {
        (f"{p}[2].id", "duplicate_id"),
        (f"{p}[1].visible_when", "condition_cycle"),
        (f"{p}[4].choices[2].value", "duplicate_choice"),
        (f"{p}[5].visible_when.values[0]", "impossible_value"),
        (f"{p}[6].visible_when.item", "unknown_item"),
        (f"{p}[0].fail_when.value", "impossible_value"),
        (f"{p}[8].min_count", "inconsistent_limits"),
        (f"{p}[9].fail_when", "critical_without_fail_when"),
    } <= found, found
    assert (f"{p}[3].visible_when", "condition_cycle") not in found  # o2 comes before notes
    assert await template_items(world.store, world.a.org_id) == before

    fwd = small()
    fwd["sections"][0]["items"][0]["visible_when"] = {"op": "equals", "item": "ok", "value": True}
    r = await world.client.post(
        "/api/templates", headers=world.a.owner.headers, json={"name": "Fwd", "definition": fwd}
    )
    assert (f"{p}[0].visible_when", "forward_reference") in _errors(r)


async def test_bounds_500_items_pass_10000_items_and_2mb_refused(world: World) -> None:
    c, owner = world.client, world.a.owner.headers
    before = await template_items(world.store, world.a.org_id)
    r = await c.post(
        "/api/templates", headers=owner, json={"name": "Big", "definition": with_items(501)}
    )
    assert _shape_errors(r) == [(["body", "definition"], "too_many_items")]
    # refused before any item is validated (a 10,000-item body costs no more than that)
    r = await c.post(
        "/api/templates", headers=owner, json={"name": "Huge", "definition": with_items(10_000)}
    )
    assert _shape_errors(r) == [(["body", "definition"], "too_many_items")]
    two_mb = small()
    two_mb["sections"][0]["items"][-1]["text"] = "x" * (2 * 1024 * 1024)
    r = await c.post("/api/templates", headers=owner, json={"name": "2MB", "definition": two_mb})
    assert r.status_code == 413
    assert error_code(r) == "too_large"
    # under the body limit but over the stored-size bound (350 KB)
    r = await c.post(
        "/api/templates",
        headers=owner,
        json={"name": "Wordy", "definition": with_items(400, help_chars=1000)},
    )
    assert ("", "template_too_large") in _errors(r)
    # a long instruction within the body limit but over its own bound
    long_text = small()
    long_text["sections"][0]["items"][-1]["text"] = "x" * 10_001
    r = await c.post(
        "/api/templates", headers=owner, json={"name": "Long", "definition": long_text}
    )
    assert r.status_code == 422
    assert error_code(r) == "validation_failed"
    assert await template_items(world.store, world.a.org_id) == before
    r = await c.post(
        "/api/templates", headers=owner, json={"name": "500", "definition": with_items(500)}
    )
    assert r.status_code == 201, r.text[:500]
    r = await c.post(f"/api/templates/{r.json()['id']}/publish", headers=owner)
    assert r.status_code == 200


async def test_two_admins_publishing_one_draft_get_one_version_and_one_409(world: World) -> None:
    c = world.client
    admin, owner = world.a.members[Role.ADMIN].headers, world.a.owner.headers
    for headers in ({}, {"If-Match": '"1"'}):
        tid = (await _create(world))["id"]
        rs = await asyncio.gather(
            c.post(f"/api/templates/{tid}/publish", headers={**owner, **headers}),
            c.post(f"/api/templates/{tid}/publish", headers={**admin, **headers}),
        )
        codes = sorted(r.status_code for r in rs)
        assert codes == [200, 409], [r.text for r in rs]
        loser = next(r for r in rs if r.status_code == 409)
        assert error_code(loser) == ("stale_version" if headers else "already_published")
        stored = await template_items(world.store, world.a.org_id)
        versions = [i for i in stored if i["sk"].startswith(f"TPLVER#{tid}#")]
        assert [v["number"] for v in versions] == [1]
        head = next(i for i in stored if i["sk"] == f"TPL#{tid}")
        assert head["latest_version"] == 1
        published = [
            e
            for e in await audit_items(world.store, world.a.org_id)
            if e["action"] == "template.published" and e["target_id"] == tid
        ]
        assert len(published) == 1


async def test_retire_stops_changes_and_keeps_versions(world: World) -> None:
    c, owner = world.client, world.a.owner.headers
    tid = (await _create(world))["id"]
    assert (await c.post(f"/api/templates/{tid}/publish", headers=owner)).status_code == 200
    r = await c.post(f"/api/templates/{tid}/retire", headers=owner)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "retired"
    r = await c.post(f"/api/templates/{tid}/retire", headers=owner)
    assert error_code(r) == "already_retired"
    r = await c.patch(f"/api/templates/{tid}", headers=owner, json={"name": "Again"})
    assert r.status_code == 409
    assert error_code(r) == "template_retired"
    r = await c.post(f"/api/templates/{tid}/publish", headers=owner)
    assert error_code(r) == "template_retired"
    worker = world.a.members[Role.WORKER].headers
    assert (await c.get(f"/api/templates/{tid}/versions/1", headers=worker)).status_code == 200
    r = await c.get("/api/templates", headers=worker, params={"limit": 200})
    assert tid not in {t["id"] for t in r.json()["items"]}


async def test_export_import_round_trip(world: World) -> None:
    c, owner = world.client, world.a.owner.headers
    tid = (await _create(world))["id"]
    assert (await c.post(f"/api/templates/{tid}/publish", headers=owner)).status_code == 200
    r = await c.get(f"/api/templates/{tid}/export", headers=owner, params={"version": 1})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["format"] == "prework.template"
    assert doc["schema_version"] == 1
    assert doc["source"] == {"template_id": tid, "version": 1}
    # into the other organization (another server works the same way)
    r = await c.post("/api/templates/import", headers=world.b.owner.headers, json=doc)
    assert r.status_code == 201, r.text
    imported = r.json()
    assert imported["definition"] == doc["definition"]
    assert imported["status"] == "draft"
    r = await c.get(f"/api/templates/{imported['id']}/export", headers=world.b.owner.headers)
    again = r.json()
    assert again["definition"] == doc["definition"]
    # a document of another schema version, or breaking a rule, is refused
    r = await c.post("/api/templates/import", headers=owner, json={**doc, "schema_version": 2})
    assert r.status_code == 422
    bad = copy.deepcopy(doc)
    bad["definition"]["sections"][0]["items"][1]["visible_when"]["item"] = "ghost"
    r = await c.post("/api/templates/import", headers=owner, json=bad)
    assert _errors(r) == [("sections[0].items[1].visible_when.item", "unknown_item")]


async def test_changes_are_published_on_the_org_topic(world: World) -> None:
    bus = world.app.state.pubsub
    async with await bus.subscribe([org_topic(world.a.org_id)]) as sub:
        tid = (await _create(world))["id"]
        r = await world.client.post(f"/api/templates/{tid}/publish", headers=world.a.owner.headers)
        assert r.status_code == 200
        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(5):
            async for message in sub:
                seen.append(message.event)
                if message.event["type"] == "template.published":
                    break
    assert [e["type"] for e in seen] == ["template.created", "template.published"]
    assert seen[-1]["version"] == 1
    assert seen[-1]["template_id"] == tid


async def test_unknown_and_malformed_ids(world: World) -> None:
    c, owner = world.client, world.a.owner.headers
    for method, path in (
        ("GET", "/api/templates/nope"),
        ("PATCH", "/api/templates/nope"),
        ("POST", "/api/templates/nope/publish"),
        ("POST", "/api/templates/nope/retire"),
        ("GET", "/api/templates/nope/versions/1"),
        ("GET", "/api/templates/nope/export"),
    ):
        r = await c.request(
            method, path, headers=owner, json={"name": "x"} if method == "PATCH" else None
        )
        assert r.status_code == 404, (method, path, r.text)
    r = await c.get("/api/templates/" + "x" * 65, headers=owner)
    assert r.status_code == 422
    for number in ("0", "01", "x", "1000000"):
        r = await c.get(f"/api/templates/abc/versions/{number}", headers=owner)
        assert r.status_code == 404, number


async def test_refused_edits_leave_the_draft_as_it_was(world: World) -> None:
    c, owner = world.client, world.a.owner.headers
    tid = (await _create(world))["id"]
    before = await template_items(world.store, world.a.org_id)
    broken = small()
    broken["sections"][0]["items"][1]["visible_when"]["item"] = "ghost"
    refusals: list[tuple[dict[str, Any], int]] = [
        ({"name": "Stale", "version": 7}, 409),
        ({"definition": broken}, 422),
        ({"definition": with_items(501)}, 422),
        ({"name": None}, 422),
    ]
    for body, status in refusals:
        r = await c.patch(f"/api/templates/{tid}", headers=owner, json=body)
        assert r.status_code == status, (body.keys(), r.text)
    r = await c.patch(
        f"/api/templates/{tid}", headers=world.a.members[Role.WORKER].headers, json={"name": "W"}
    )
    assert r.status_code == 403
    assert await template_items(world.store, world.a.org_id) == before


async def test_hostile_nesting_is_a_4xx(world: World) -> None:
    """Conditions nested past the rule's bound are a rule error; nesting past the
    route's body bounds (depth 32) is refused before validation; never a 500."""
    for depth, status in ((6, 422), (100, 400), (3000, 400)):
        cond = '{"op":"equals","item":"a","value":true}'
        for _ in range(depth):
            cond = '{"op":"all","conditions":[' + cond + "]}"
        body = (
            '{"name":"Deep","definition":{"sections":[{"id":"s","title":"t","items":['
            '{"id":"a","type":"checkbox","label":"a"},'
            '{"id":"b","type":"checkbox","label":"b","visible_when":' + cond + "}]}]}}"
        )
        r = await world.client.post(
            "/api/templates",
            headers={**world.a.owner.headers, "Content-Type": "application/json"},
            content=body,
        )
        assert r.status_code == status, (depth, r.text[:300])
        if status == 422:
            assert "condition_too_deep" in {code for _, code in _errors(r)}, depth
