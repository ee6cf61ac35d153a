"""``GET /api/audit``: who may read, filters, time range, cursor pagination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from prework.core.principal import Role

from .helpers import error_code, join, make_tenant, register, route_table


async def _all(
    client: httpx.AsyncClient, headers: dict[str, str], **params: str | int
) -> list[dict]:  # type: ignore[type-arg]
    events: list[dict] = []  # type: ignore[type-arg]
    cursor = None
    while True:
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        r = await client.get("/api/audit", headers=headers, params=query)
        assert r.status_code == 200, r.text
        events += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return events


async def test_who_may_read_the_audit_log(client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(client)
    for role, member in tenant.members.items():
        r = await client.get("/api/audit", headers=member.headers)
        allowed = role in (Role.OWNER, Role.ADMIN, Role.AUDITOR)
        assert r.status_code == (200 if allowed else 403), role
        if not allowed:
            assert error_code(r) == "forbidden"


async def test_filters_and_pagination(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    start = datetime.now(UTC) - timedelta(seconds=1)
    workers = [await join(client, owner, role=Role.WORKER) for _ in range(3)]
    for w in workers:
        await client.patch(
            f"/api/users/{w.user_id}", headers=owner.headers, json={"role": "supervisor"}
        )

    everything = await _all(client, owner.headers)
    newest_first = [e["at"] for e in everything]
    assert newest_first == sorted(newest_first, reverse=True)
    assert len({e["id"] for e in everything}) == len(everything)
    # pages of 2 give the same events in the same order
    assert [e["id"] for e in await _all(client, owner.headers, limit=2)] == [
        e["id"] for e in everything
    ]

    by_action = await _all(client, owner.headers, action="user.role_changed", limit=2)
    assert {e["target_id"] for e in by_action} == {w.user_id for w in workers}
    by_target = await _all(client, owner.headers, target_type="user", target_id=workers[0].user_id)
    assert {e["action"] for e in by_target} == {"user.created", "auth.login", "user.role_changed"}
    by_actor = await _all(client, owner.headers, actor=owner.user_id, action="user.role_changed")
    assert len(by_actor) == 3
    combined = await _all(
        client, owner.headers, actor=owner.user_id, target_type="user", target_id=workers[1].user_id
    )
    assert [e["action"] for e in combined] == ["user.role_changed"]

    middle = by_action[1]["at"]
    since = await _all(client, owner.headers, action="user.role_changed", since=middle)
    until = await _all(client, owner.headers, action="user.role_changed", until=middle)
    assert len(since) == 2
    assert len(until) == 2
    assert since[-1]["id"] == until[0]["id"] == by_action[1]["id"]
    assert await _all(client, owner.headers, until=start.isoformat()) == []


async def test_bad_filters(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    cases: list[tuple[dict[str, str | int], str]] = [
        ({"cursor": "!!!not-a-cursor"}, "invalid_cursor"),
        ({"cursor": "e30"}, "invalid_cursor"),  # {} without a position
        ({"target_id": "x"}, "invalid_filter"),
        ({"limit": 0}, "validation_failed"),
        ({"limit": 1000}, "validation_failed"),
        ({"since": "yesterday"}, "validation_failed"),
    ]
    for params, code in cases:
        r = await client.get("/api/audit", headers=owner.headers, params=params)
        assert r.status_code == 422, params
        assert error_code(r) == code, params


async def test_no_route_changes_an_audit_event(app: FastAPI, client: httpx.AsyncClient) -> None:
    audit_routes = [(m, p) for m, p in route_table(app) if p.startswith("/api/audit")]
    assert audit_routes == [("GET", "/api/audit")]
    owner = await register(client)
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        r = await client.request(method, "/api/audit", headers=owner.headers)
        assert r.status_code == 405


async def test_time_bounds_at_the_edges_of_the_calendar_are_422_not_500(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client)
    cases: list[dict[str, str]] = [
        {"since": "0001-01-01T00:00:00+01:00"},  # before year 1 in UTC
        {"until": "9999-12-31T23:59:59-01:00"},  # after year 9999 in UTC
        {"since": "2030-01-01T00:00:00Z", "until": "2020-01-01T00:00:00Z"},  # an empty range
    ]
    for params in cases:
        r = await client.get("/api/audit", headers=owner.headers, params=params)
        assert r.status_code == 422, (params, r.text)
        assert error_code(r) == "invalid_filter", params
    # the earliest and latest representable instants are fine
    wide = await _all(
        client, owner.headers, since="0001-01-01T00:00:00Z", until="9999-12-31T23:59:59Z"
    )
    assert len(wide) == 3  # org.created, user.created, auth.login
    # years before 1000 sort before any real event (fixed-width years)
    assert len(await _all(client, owner.headers, since="0999-01-01T00:00:00Z")) == 3
    assert await _all(client, owner.headers, until="0999-01-01T00:00:00Z") == []


async def test_forged_cursors_are_invalid_cursor_on_every_engine(
    client: httpx.AsyncClient,
) -> None:
    import base64
    import json

    owner = await register(client)

    def cursor(data: object) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    for forged in (
        cursor({"sk": "z" * 1500}),  # past DynamoDB's sort key size
        cursor({"sk": "\ud800"}),  # not encodable text
        cursor({"sk": "ORG#someone-else"}),  # not an event position
        cursor({"sk": "2025-01-01T00:00:00.000000Z"}),  # no event id
    ):
        r = await client.get("/api/audit", headers=owner.headers, params={"cursor": forged})
        assert r.status_code == 422, (forged, r.text)
        assert error_code(r) == "invalid_cursor", forged
    # a well-formed position before the range is an empty page, not an error
    early = cursor({"sk": "2000-01-01T00:00:00.000000Z#" + "0" * 32})
    r = await client.get(
        "/api/audit",
        headers=owner.headers,
        params={"cursor": early, "since": "2010-01-01T00:00:00Z"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"items": [], "next_cursor": None}


async def test_a_cursor_never_crosses_organizations(client: httpx.AsyncClient) -> None:
    a = await make_tenant(client, "Cursor A", roles=(Role.OWNER, Role.ADMIN, Role.WORKER))
    b = await register(client, org_name="Cursor B")
    a_ids = {a.org_id, *(m.user_id for m in a.members.values())}
    for path in ("/api/users", "/api/audit", "/api/users/invitations"):
        if path == "/api/users/invitations":
            for _ in range(2):
                await client.post(
                    path,
                    headers=a.owner.headers,
                    json={"email": f"x{_}-{a.org_id}@example.com", "role": "worker"},
                )
        first = await client.get(path, headers=a.owner.headers, params={"limit": 1})
        assert first.status_code == 200, first.text
        cursor = first.json()["next_cursor"]
        assert cursor is not None, path
        r = await client.get(path, headers=b.headers, params={"cursor": cursor, "limit": 200})
        assert not any(marker in r.text for marker in a_ids), (path, r.text)
        if r.status_code == 200:  # the audit cursor is a position in B's own partition
            assert all(item.get("org_id", b.org_id) == b.org_id for item in r.json()["items"])
        else:
            assert r.status_code == 422, (path, r.text)
            assert error_code(r) == "invalid_cursor"
