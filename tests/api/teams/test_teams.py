"""Teams through HTTP on both engines: create, read, list, rename, members, archive,
who may do what, deactivation, events on the bus, and bad input leaving storage as it was."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from prework.core.principal import Role
from prework.pubsub.base import org_topic
from prework.store.base import Store

from ..identity.helpers import Tenant, audit_items, error_code, join, make_tenant
from .helpers import create_team, drain, seed_members, team_items, teams_and_memberships


async def test_create_read_list_rename_archive(
    client: httpx.AsyncClient, app: FastAPI, store: Store, tenant: Tenant
) -> None:
    sup, worker = tenant.members[Role.SUPERVISOR], tenant.members[Role.WORKER]
    bus = await app.state.pubsub.subscribe([org_topic(tenant.org_id)])
    r = await create_team(
        client, sup, "Night shift", [(worker.user_id, "lead"), (tenant.owner.user_id, "member")]
    )
    assert r.status_code == 201, r.text
    team = r.json()
    assert team["status"] == "active"
    assert team["member_count"] == 2
    assert r.headers["ETag"] == '"1"'
    team_id = team["id"]

    r = await client.get(f"/api/teams/{team_id}", headers=sup.headers, params={"limit": 1})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "Night shift"
    assert len(body["members"]["items"]) == 1
    rest = await client.get(
        f"/api/teams/{team_id}/members",
        headers=sup.headers,
        params={"cursor": body["members"]["next_cursor"]},
    )
    roles = {m["user_id"]: m["role"] for m in body["members"]["items"] + rest.json()["items"]}
    assert roles == {worker.user_id: "lead", tenant.owner.user_id: "member"}

    listed = await client.get("/api/teams", headers=tenant.members[Role.AUDITOR].headers)
    assert [t["id"] for t in listed.json()["items"]] == [team_id]
    mine = await client.get(
        "/api/teams", headers=worker.headers, params={"user_id": worker.user_id}
    )
    assert [t["id"] for t in mine.json()["items"]] == [team_id]

    r = await client.patch(
        f"/api/teams/{team_id}", headers={**sup.headers, "If-Match": '"1"'}, json={"name": "Day"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["version"]) == ("Day", 2)
    r = await client.patch(
        f"/api/teams/{team_id}", headers=sup.headers, json={"name": "X", "version": 1}
    )
    assert r.status_code == 409
    assert error_code(r) == "stale_version"
    assert r.json()["error"]["details"]["current_version"] == 2

    r = await client.post(f"/api/teams/{team_id}/archive", headers=sup.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "archived"
    for method, path, json in (
        ("PATCH", "", {"name": "Again"}),
        ("POST", "/members", {"members": [{"user_id": sup.user_id}]}),
        ("POST", "/archive", None),
    ):
        r = await client.request(
            method, f"/api/teams/{team_id}{path}", headers=sup.headers, json=json
        )
        assert r.status_code == 409, (method, path, r.text)
        assert error_code(r) in ("team_archived", "already_archived")
    assert (await client.get("/api/teams", headers=sup.headers)).json()["items"] == []
    archived = await client.get("/api/teams", headers=sup.headers, params={"status": "archived"})
    assert [t["id"] for t in archived.json()["items"]] == [team_id]
    mine = await client.get(
        "/api/teams", headers=worker.headers, params={"user_id": worker.user_id}
    )
    assert mine.json()["items"] == []

    events = await drain(bus)
    await bus.close()
    assert [e["type"] for e in events] == ["team.created", "team.renamed", "team.archived"]
    assert all(e["team_id"] == team_id and e["org_id"] == tenant.org_id for e in events)
    actions = [
        e["action"] for e in await audit_items(store, tenant.org_id) if e["target_id"] == team_id
    ]
    assert actions == ["team.created", "team.activated", "team.renamed", "team.archived"]


async def test_add_and_remove_members_keeps_history(
    client: httpx.AsyncClient, app: FastAPI, store: Store, tenant: Tenant
) -> None:
    admin, worker = tenant.members[Role.ADMIN], tenant.members[Role.WORKER]
    team_id = (await create_team(client, admin, "Riggers")).json()["id"]
    bus = await app.state.pubsub.subscribe([org_topic(tenant.org_id)])
    url = f"/api/teams/{team_id}/members"
    r = await client.post(
        url, headers=admin.headers, json={"members": [{"user_id": worker.user_id}]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["member_count"] == 1
    r = await client.post(
        url, headers=admin.headers, json={"members": [{"user_id": worker.user_id}]}
    )
    assert (r.status_code, error_code(r)) == (409, "already_member")
    r = await client.request(
        "DELETE", url, headers=admin.headers, json={"user_ids": [worker.user_id]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["member_count"] == 0
    r = await client.request(
        "DELETE", url, headers=admin.headers, json={"user_ids": [worker.user_id]}
    )
    assert (r.status_code, error_code(r)) == (409, "not_member")
    assert (await client.get(url, headers=admin.headers)).json()["items"] == []
    # the worker no longer reads the team
    r = await client.get(f"/api/teams/{team_id}", headers=worker.headers)
    assert r.status_code == 404
    # history: the membership stays, marked removed, by whom and when
    _, memberships = teams_and_memberships(await team_items(store, tenant.org_id))
    (kept,) = memberships
    assert (kept["status"], kept["removed_by"], kept["removed_reason"]) == (
        "removed",
        admin.user_id,
        "removed",
    )
    assert "gsi1pk" not in kept
    # re-adding works
    r = await client.post(
        url, headers=admin.headers, json={"members": [{"user_id": worker.user_id, "role": "lead"}]}
    )
    assert r.status_code == 200, r.text
    events = await drain(bus)
    await bus.close()
    assert [(e["type"], e["added"], e["removed"]) for e in events] == [
        ("team.members_changed", [worker.user_id], []),
        ("team.members_changed", [], [worker.user_id]),
        ("team.members_changed", [worker.user_id], []),
    ]


async def test_who_may_do_what(client: httpx.AsyncClient, tenant: Tenant) -> None:
    sup, worker, auditor = (tenant.members[r] for r in (Role.SUPERVISOR, Role.WORKER, Role.AUDITOR))
    other = await join(client, tenant.owner, role=Role.WORKER)
    team_id = (await create_team(client, sup, "Crew", [(worker.user_id, "member")])).json()["id"]
    for member in (worker, auditor):
        r = await create_team(client, member, "Nope")
        assert (r.status_code, error_code(r)) == (403, "forbidden")
        r = await client.patch(f"/api/teams/{team_id}", headers=member.headers, json={"name": "N"})
        assert r.status_code == 403
        r = await client.post(f"/api/teams/{team_id}/archive", headers=member.headers)
        assert r.status_code == 403
    # a worker reads the teams they belong to, and only those
    assert (await client.get(f"/api/teams/{team_id}", headers=worker.headers)).status_code == 200
    assert (await client.get(f"/api/teams/{team_id}", headers=other.headers)).status_code == 404
    r = await client.get(f"/api/teams/{team_id}/members", headers=other.headers)
    assert r.status_code == 404
    assert (await client.get("/api/teams", headers=worker.headers)).status_code == 403
    r = await client.get("/api/teams", headers=worker.headers, params={"user_id": other.user_id})
    assert r.status_code == 403
    r = await client.get("/api/teams", headers=auditor.headers, params={"user_id": worker.user_id})
    assert [t["id"] for t in r.json()["items"]] == [team_id]


@pytest.mark.parametrize(
    "problem",
    ["unknown_member", "other_org_member", "duplicate_member", "member_inactive", "too_many"],
)
async def test_bad_members_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient, store: Store, tenant: Tenant, problem: str
) -> None:
    owner, worker = tenant.owner, tenant.members[Role.WORKER]
    members: list[tuple[str, str]] = [(worker.user_id, "member")]
    expected = problem
    if problem == "unknown_member":
        members.append(("0" * 32, "member"))
    elif problem == "other_org_member":
        stranger = (await make_tenant(client, "Elsewhere", roles=(Role.OWNER,))).owner
        members.append((stranger.user_id, "member"))
        expected = "unknown_member"
    elif problem == "duplicate_member":
        members.append((worker.user_id, "lead"))
    elif problem == "member_inactive":
        gone = await join(client, owner, role=Role.WORKER)
        r = await client.post(f"/api/users/{gone.user_id}/deactivate", headers=owner.headers)
        assert r.status_code == 200
        members.append((gone.user_id, "member"))
    else:
        members = [(f"{i:032x}", "member") for i in range(1001)]
        expected = "validation_failed"
    before = await audit_items(store, tenant.org_id)
    r = await create_team(client, owner, "Bad", members)
    assert r.status_code == 422, r.text
    assert error_code(r) == expected
    assert await team_items(store, tenant.org_id) == []
    assert await audit_items(store, tenant.org_id) == before


async def test_deactivating_a_user_takes_them_off_every_roster(
    client: httpx.AsyncClient, app: FastAPI, store: Store, tenant: Tenant
) -> None:
    owner = tenant.owner
    leaving = await join(client, owner, role=Role.WORKER)
    staying = tenant.members[Role.WORKER]
    both = [(leaving.user_id, "lead"), (staying.user_id, "member")]
    first = (await create_team(client, owner, "One", both)).json()["id"]
    second = (await create_team(client, owner, "Two", both)).json()["id"]
    archived = (await create_team(client, owner, "Old", both)).json()["id"]
    assert (
        await client.post(f"/api/teams/{archived}/archive", headers=owner.headers)
    ).status_code == 200
    bus = await app.state.pubsub.subscribe([org_topic(tenant.org_id)])
    r = await client.post(f"/api/users/{leaving.user_id}/deactivate", headers=owner.headers)
    assert r.status_code == 200, r.text
    for team_id in (first, second):
        r = await client.get(f"/api/teams/{team_id}", headers=owner.headers)
        assert r.json()["member_count"] == 1
        assert [m["user_id"] for m in r.json()["members"]["items"]] == [staying.user_id]
    r = await client.get("/api/teams", headers=owner.headers, params={"user_id": leaving.user_id})
    assert r.json()["items"] == []
    # history stays: the memberships are kept, marked removed because of the deactivation
    _, memberships = teams_and_memberships(await team_items(store, tenant.org_id))
    removed = sorted(
        m["team_id"]
        for m in memberships
        if m["user_id"] == leaving.user_id and m["status"] == "removed"
    )
    assert removed == sorted([first, second])
    assert {m["removed_reason"] for m in memberships if m["status"] == "removed"} == {
        "user_deactivated"
    }
    events = await drain(bus)
    await bus.close()
    changed = sorted(e["team_id"] for e in events if e["type"] == "team.members_changed")
    assert changed == sorted([first, second])


async def test_a_key_reused_for_another_team_is_refused(
    client: httpx.AsyncClient, store: Store, tenant: Tenant
) -> None:
    owner = tenant.owner
    r = await create_team(client, owner, "Same key", key="key-1")
    assert r.status_code == 201
    again = await create_team(client, owner, "Same key", key="key-1")
    assert (again.status_code, again.json()["id"]) == (201, r.json()["id"])
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await create_team(client, owner, "Another team", key="key-1")
    assert (other.status_code, error_code(other)) == (422, "idempotency_key_reused")
    teams, _ = teams_and_memberships(await team_items(store, tenant.org_id))
    assert len(teams) == 1


async def test_many_members_page_through(
    client: httpx.AsyncClient, store: Store, tenant: Tenant
) -> None:
    ids = await seed_members(store, tenant.org_id, 120)
    r = await create_team(client, tenant.owner, "Big", [(u, "member") for u in ids])
    assert r.status_code == 201, r.text
    team_id = r.json()["id"]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "50", **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get(
                f"/api/teams/{team_id}/members", headers=tenant.owner.headers, params=params
            )
        ).json()
        seen += [m["user_id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)


async def test_two_attempts_under_one_key_at_once_make_one_team(
    client: httpx.AsyncClient, store: Store, tenant: Tenant
) -> None:
    ids = await seed_members(store, tenant.org_id, 60)
    members = [(u, "member") for u in ids]
    first, second = await asyncio.gather(
        create_team(client, tenant.owner, "Twice", members, key="same-time"),
        create_team(client, tenant.owner, "Twice", members, key="same-time"),
    )
    # one runs; the other waits its turn (409 idempotency_in_progress) or, if the first
    # already answered, gets its answer again
    answers = [first, second]
    assert {a.status_code for a in answers} <= {201, 409}, (first.text, second.text)
    created = [a for a in answers if a.status_code == 201]
    assert created
    assert len({a.json()["id"] for a in created}) == 1
    assert all(a.json()["member_count"] == 60 for a in created)
    for a in answers:
        if a.status_code == 409:
            assert error_code(a) == "idempotency_in_progress"
    teams, memberships = teams_and_memberships(await team_items(store, tenant.org_id))
    assert len(teams) == 1
    assert len(memberships) == 60
    actions = sorted(
        e["action"] for e in await audit_items(store, tenant.org_id) if e["target_type"] == "team"
    )
    assert actions == ["team.activated", "team.created"]


async def test_deactivating_again_finishes_an_interrupted_roster_removal(
    client: httpx.AsyncClient, app: FastAPI, store: Store, tenant: Tenant
) -> None:
    owner = tenant.owner
    leaving = await join(client, owner, role=Role.WORKER)
    team_id = (await create_team(client, owner, "Crew", [(leaving.user_id, "member")])).json()["id"]
    users = app.state.services.identity.users
    rosters, users.rosters = users.rosters, None  # the process dies after the commit
    try:
        r = await client.post(f"/api/users/{leaving.user_id}/deactivate", headers=owner.headers)
        assert r.status_code == 200
    finally:
        users.rosters = rosters
    r = await client.get(f"/api/teams/{team_id}", headers=owner.headers)
    assert r.json()["member_count"] == 1
    r = await client.post(f"/api/users/{leaving.user_id}/deactivate", headers=owner.headers)
    assert (r.status_code, error_code(r)) == (409, "already_deactivated")
    r = await client.get(f"/api/teams/{team_id}", headers=owner.headers)
    assert (r.json()["member_count"], r.json()["members"]["items"]) == (0, [])
