"""No data crosses organizations: a walk over the app's whole route table.

For every route that takes an id (in its path, or in its JSON body: a request
model's ``*_id``/``*_ids`` field, read from the OpenAPI), a case (``tenancy_cases.py`` of each area,
see ``coverage.py``) makes objects in org A; the route is then called on
them as every role of org B. It must never answer 2xx, never show any of A's
identifiers in a body, never change A's data, and answer exactly as it does
for an id that exists nowhere (so nobody can tell "another org's" from
"none"): 404 for whoever the matrix allows the action. Each case is a test
of its own; a route with no case fails ``test_every_route_with_an_id_has_a_case``
until one is added. Every GET route without ids (the listings) is also called
as every role of B and must show nothing of A. The tests share one world per
engine (``walk_world``): every case makes the objects of A it calls on.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest

from .coverage import Call, CaseKey, RouteKey, World, load
from .helpers import Tenant, route_table, snapshot

_PARAM = re.compile(r"\{([^}:]+)(?::path)?\}")
# body fields named like ids that name no stored object
_NOT_IDS = {"client_id"}  # a sync client's own name for itself
CASES, EXEMPT = load("tenancy_cases.py")
# the order of the app's route table: the order the walk had as one test
CASED = sorted((k for k in CASES if k[:2] not in EXEMPT), key=lambda k: (k[1], k[0], *k[2:]))


def _fields(spec: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> set[str]:
    """The property names of a request body schema (through refs and unions, and
    of the objects it nests: ``target.assignment_id`` counts)."""
    if depth > 8:
        return set()
    if "$ref" in schema:
        named = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        return _fields(spec, named, depth + 1)
    properties: dict[str, Any] = schema.get("properties", {})
    found = set(properties)
    for part in properties.values():
        found |= _fields(spec, part, depth + 1)
    for key in ("oneOf", "anyOf", "allOf"):
        for part in schema.get(key, []):
            found |= _fields(spec, part, depth + 1)
    return found


def _body_id_routes(app: Any) -> set[RouteKey]:
    """The routes whose JSON body names ids (a ``*_id``/``*_ids`` field)."""
    spec = app.openapi()
    found: set[RouteKey] = set()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema is None:
                continue
            names = _fields(spec, schema) - _NOT_IDS
            if any(n.endswith(("_id", "_ids")) for n in names):
                found.add((method.upper(), path))
    return found


def _markers(tenant: Tenant) -> set[str]:
    """Strings that identify org A: its id, name, members' ids and emails."""
    out = {tenant.org_id}
    for member in tenant.members.values():
        out |= {member.user_id, member.email, member.session_id}
    return out


def _leaks(body: str, markers: set[str]) -> set[str]:
    return {m for m in markers if m in body}


def _nowhere(call: Call) -> Call:
    """The same call with every id replaced by one that exists nowhere."""
    return Call(
        path_params={
            k: (v if k == "bucket" else uuid.uuid4().hex) for k, v in call.path_params.items()
        },
        json=call.with_body_ids(lambda: uuid.uuid4().hex),
        params=call.params,
        own_check=False,
    )


async def test_every_route_with_an_id_has_a_case(walk_world: World) -> None:
    table = route_table(walk_world.app)
    body_ids = _body_id_routes(walk_world.app)
    with_ids = [(m, p) for m, p in table if _PARAM.search(p) or (m, p) in body_ids]
    cased = {k[:2] for k in CASES}
    missing = [k for k in with_ids if k not in cased and k not in EXEMPT]
    assert not missing, f"routes without a tenancy case (add one to a tenancy_cases.py): {missing}"
    stale = [k for k in CASES if k[:2] not in with_ids]
    assert not stale, f"tenancy cases for routes that do not exist: {stale}"


@pytest.mark.parametrize("key", CASED, ids=lambda key: " ".join(key))
async def test_route_with_an_id_leaks_nothing_across_organizations(
    walk_world: World, key: CaseKey
) -> None:
    world = walk_world
    method, path = key[:2]
    assert (method, path) in route_table(world.app), (
        f"a tenancy case for {method} {path}: not mounted"
    )
    markers = _markers(world.a)
    leaks: list[str] = []
    call = Call.of(await CASES[key](world))
    url = call.url(path)
    own_markers = (
        markers
        | set(call.path_params.values()) - {call.path_params.get("bucket", "")}
        | call.body_id_values()
    )
    before = await snapshot(world.store, world.a.org_id)
    for role, member in world.b.members.items():
        r = await world.client.request(
            method, url, headers=member.headers, json=call.json, params=call.params
        )
        nowhere = _nowhere(call)
        control = await world.client.request(
            method,
            nowhere.url(path),
            headers=member.headers,
            json=nowhere.json,
            params=nowhere.params,
        )
        where = f"{method} {path} as B's {role.value}"
        if 200 <= r.status_code < 300:
            leaks.append(f"{where}: answered {r.status_code}")
        found = _leaks(r.text, own_markers)
        if found:
            leaks.append(f"{where}: body shows {sorted(found)}")
        if (r.status_code, _code(r)) != (control.status_code, _code(control)):
            leaks.append(
                f"{where}: {r.status_code} {_code(r)} but {control.status_code} "
                f"{_code(control)} for an id that exists nowhere"
            )
        if role.value == "owner" and r.status_code not in (403, 404):
            leaks.append(f"{where}: {r.status_code}, expected 404")
    after = await snapshot(world.store, world.a.org_id)
    if after != before:
        leaks.append(f"{method} {path}: org A's data changed")
    if call.own_check:
        # the case is meaningful: the same call works for A's own owner
        r = await world.client.request(
            method, url, headers=world.a.owner.headers, json=call.json, params=call.params
        )
        if not 200 <= r.status_code < 300:
            leaks.append(f"{method} {path}: the case fails for A's owner too ({r.status_code})")
    assert not leaks, "\n".join(leaks)


async def test_listings_show_nothing_of_another_organization(walk_world: World) -> None:
    world = walk_world
    markers = _markers(world.a)
    leaks: list[str] = []
    for method, path in route_table(world.app):
        if method != "GET" or _PARAM.search(path) or not path.startswith("/api/"):
            continue
        for role, member in world.b.members.items():
            r = await world.client.get(path, headers=member.headers)
            found = _leaks(r.text, markers)
            if found:
                leaks.append(f"GET {path} as B's {role.value}: {sorted(found)}")
    assert not leaks, "\n".join(leaks)


def _code(r: httpx.Response) -> str | None:
    try:
        body = r.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None
