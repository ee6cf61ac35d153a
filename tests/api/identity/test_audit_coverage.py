"""Every state change is audited: a walk over every mutating route of the app.

For each POST/PUT/PATCH/DELETE route, a case (``audit_cases.py`` of each
area, see ``coverage.py``) calls it successfully and the named events must
appear, with the right action and target, in the right organization; then
calls it so that it fails, and the organization's stored data must be
unchanged except for the failure events the case names (``access.denied``,
``auth.login_failed``), exactly those. A route with no case fails the test.
"""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
from fastapi import FastAPI

from prework.store.base import Store

from .coverage import Call, World, load, make_world
from .helpers import audit_items, route_table, snapshot

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, store: Store) -> World:
    return await make_world(app, client, store)


async def test_every_mutating_route_has_a_case(app: FastAPI) -> None:
    cases, exempt = load("audit_cases.py")
    mutating = [(m, p) for m, p in route_table(app) if m in MUTATING]
    missing = [k for k in mutating if k not in cases and k not in exempt]
    assert not missing, (
        f"mutating routes without an audit case (add one to an audit_cases.py): {missing}"
    )
    stale = [k for k in cases if k not in mutating]
    assert not stale, f"audit cases for routes that do not exist: {stale}"


async def test_every_mutating_route_audits_success_and_only_the_failure(world: World) -> None:
    cases, exempt = load("audit_cases.py")
    problems: list[str] = []
    for method, path in route_table(world.app):
        if method not in MUTATING or (method, path) in exempt:
            continue
        where = f"{method} {path}"
        case = cases[(method, path)]

        # success: the named events appear
        spec = await case["ok"](world)
        call = Call.of(spec)
        before_ids = {e["id"] for e in await audit_items(world.store, world.a.org_id)}
        r = await world.client.request(
            method,
            call.url(path),
            headers=spec.get("headers", {}),
            json=call.json,
            params=call.params,
        )
        if not 200 <= r.status_code < 300:
            problems.append(f"{where}: the success case answered {r.status_code} {r.text}")
            continue
        org_id, expected = spec["expect"](r)
        new = [e for e in await audit_items(world.store, org_id) if e["id"] not in before_ids]
        seen = {(e["action"], e["target_type"], e["target_id"]) for e in new}
        for event in expected:
            if event not in seen:
                problems.append(f"{where}: no audit event {event}; got {sorted(seen)}")
        for e in new:
            if e["request_id"] != r.headers.get("X-Request-ID"):
                problems.append(f"{where}: event {e['action']} lacks the request id")
            if not e["client_ip"] or not e["at"]:
                problems.append(f"{where}: event {e['action']} lacks address or time")

        # failure: nothing changes but the stated failure events
        spec = await case["fail"](world)
        call = Call.of(spec)
        org_id = spec["org"]
        before = await snapshot(world.store, org_id)
        r = await world.client.request(
            method,
            call.url(path),
            headers=spec.get("headers", {}),
            json=call.json,
            params=call.params,
        )
        if r.status_code < 400:
            problems.append(f"{where}: the failure case answered {r.status_code}")
            continue
        after = await snapshot(world.store, org_id)
        old_ids = {e["id"] for e in before["audit-log"]}
        added = [e for e in after["audit-log"] if e["id"] not in old_ids]
        if Counter(e["action"] for e in added) != Counter(spec["events"]):
            problems.append(
                f"{where}: failure added events {[e['action'] for e in added]}, "
                f"expected {spec['events']}"
            )
        for table in ("organizations", "users", "profiles"):
            if after[table] != before[table]:
                problems.append(f"{where}: failure changed {table}")
    assert not problems, "\n".join(problems)
