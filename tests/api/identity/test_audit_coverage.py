"""Every state change is audited: a walk over every mutating route of the app.

For each POST/PUT/PATCH/DELETE route, a case (``audit_cases.py`` of each
area, see ``coverage.py``) calls it successfully and the named events must
appear, with the right action and target, in the right organization; then
calls it so that it fails, and the organization's stored data must be
unchanged except for the failure events the case names (``access.denied``,
``auth.login_failed``), exactly those, and the tables a refusal that records
state names in ``records`` (a rejected upload: ``media``, with its
``media.rejected`` event), which must change; a failure that is a denial, repeated,
adds nothing (repeats within a window are coalesced into a counter). Each case
is a test of its own; a route
with no case fails ``test_every_mutating_route_has_a_case``. The tests share
one world per engine (``walk_world``): every case makes the objects it changes.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from prework.authz.authorize import DENIAL_WINDOW_SECONDS

from .coverage import Call, CaseKey, World, load
from .helpers import audit_items, route_table, snapshot

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
CASES, EXEMPT = load("audit_cases.py")
# the order of the app's route table: the order the walk had as one test
CASED = sorted((k for k in CASES if k[:2] not in EXEMPT), key=lambda k: (k[1], k[0], *k[2:]))


async def test_every_mutating_route_has_a_case(walk_world: World) -> None:
    mutating = [(m, p) for m, p in route_table(walk_world.app) if m in MUTATING]
    cased = {k[:2] for k in CASES}
    missing = [k for k in mutating if k not in cased and k not in EXEMPT]
    assert not missing, (
        f"mutating routes without an audit case (add one to an audit_cases.py): {missing}"
    )
    stale = [k for k in CASES if k[:2] not in mutating]
    assert not stale, f"audit cases for routes that do not exist: {stale}"


@pytest.mark.parametrize("key", CASED, ids=lambda key: " ".join(key))
async def test_mutating_route_audits_success_and_only_the_failure(
    walk_world: World, key: CaseKey
) -> None:
    world = walk_world
    method, path = key[:2]
    where = " ".join(key)
    assert (method, path) in route_table(world.app), f"an audit case for {where}: not mounted"
    problems: list[str] = []
    case = CASES[key]
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
        pytest.fail(f"{where}: the success case answered {r.status_code} {r.text}")
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
    window = time.time() // DENIAL_WINDOW_SECONDS
    r = await world.client.request(
        method,
        call.url(path),
        headers=spec.get("headers", {}),
        json=call.json,
        params=call.params,
    )
    if r.status_code < 400:
        problems.append(f"{where}: the failure case answered {r.status_code}")
        pytest.fail("\n".join(problems))
    after = await snapshot(world.store, org_id)
    old_ids = {e["id"] for e in before["audit-log"]}
    added = [e for e in after["audit-log"] if e["id"] not in old_ids]
    if Counter(e["action"] for e in added) != Counter(spec["events"]):
        problems.append(
            f"{where}: failure added events {[e['action'] for e in added]}, "
            f"expected {spec['events']}"
        )
    # a refusal that deliberately records state (a rejected upload) names what it changes
    recorded = set(spec.get("records", ()))
    for table in after:
        if table == "audit-log" or (table in recorded and after[table] != before[table]):
            continue
        if after[table] != before[table]:
            problems.append(f"{where}: failure changed {table}")
    for table in recorded:
        if after[table] == before[table]:
            problems.append(f"{where}: the refusal should have recorded state in {table}")

    # a denial repeated within the window is coalesced: counted, not a new event
    if "access.denied" in spec["events"]:
        r = await world.client.request(
            method,
            call.url(path),
            headers=spec.get("headers", {}),
            json=call.json,
            params=call.params,
        )
        if r.status_code != 403:
            problems.append(f"{where}: the repeated denial answered {r.status_code}")
        again = await snapshot(world.store, org_id)
        same_window = time.time() // DENIAL_WINDOW_SECONDS == window  # else a new window's event
        if same_window and again != after:
            problems.append(f"{where}: a repeated denial changed storage or wrote an event")
    assert not problems, "\n".join(problems)
