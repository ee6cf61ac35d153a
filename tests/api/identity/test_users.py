"""``/api/users``: listing, reading, roles, deactivation, the last owner, optimistic locking."""

from __future__ import annotations

import asyncio

import httpx

from prework.core.principal import Role
from prework.store.base import Store

from .helpers import audit_items, error_code, join, make_tenant, register, snapshot


async def test_list_filters_and_paginates(client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(client)
    owner = tenant.owner
    extra = [await join(client, owner, role=Role.WORKER) for _ in range(3)]
    await client.post(f"/api/users/{extra[0].user_id}/deactivate", headers=owner.headers)

    everyone = await client.get("/api/users", headers=owner.headers)
    assert everyone.status_code == 200
    assert len(everyone.json()["items"]) == 8
    assert everyone.json()["next_cursor"] is None

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/users", headers=owner.headers, params=params)).json()
        assert len(page["items"]) <= 3
        seen += [u["id"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(u["id"] for u in everyone.json()["items"])

    async def ids(**params: str) -> set[str]:
        r = await client.get("/api/users", headers=owner.headers, params=params)
        assert r.status_code == 200, r.text
        return {u["id"] for u in r.json()["items"]}

    workers = {tenant.members[Role.WORKER].user_id} | {m.user_id for m in extra}
    assert await ids(role="worker") == workers
    assert await ids(status="deactivated") == {extra[0].user_id}
    assert await ids(role="worker", status="active") == workers - {extra[0].user_id}
    assert await ids(role="owner") == {owner.user_id}
    bad = await client.get("/api/users", headers=owner.headers, params={"role": "boss"})
    assert bad.status_code == 422


async def test_who_may_list_and_read(client: httpx.AsyncClient, store: Store) -> None:
    tenant = await make_tenant(client)
    target = tenant.members[Role.WORKER].user_id
    for role, member in tenant.members.items():
        listing = await client.get("/api/users", headers=member.headers)
        one = await client.get(f"/api/users/{target}", headers=member.headers)
        if role is Role.WORKER:
            assert listing.status_code == 403
            assert error_code(listing) == "forbidden"
            assert one.status_code == 200  # their own account
        else:
            assert listing.status_code == 200, role
            assert one.status_code == 200, role
            assert one.json()["id"] == target
            assert one.headers["ETag"] == '"1"'
    denied = [e for e in await audit_items(store, tenant.org_id) if e["action"] == "access.denied"]
    assert [(e["actor_id"], e["details"]["permission"]) for e in denied] == [
        (tenant.members[Role.WORKER].user_id, "user.list")
    ]
    missing = await client.get("/api/users/" + "0" * 32, headers=tenant.owner.headers)
    assert missing.status_code == 404
    assert error_code(missing) == "not_found"


async def test_change_role_with_optimistic_locking(client: httpx.AsyncClient, store: Store) -> None:
    tenant = await make_tenant(client, roles=(Role.OWNER, Role.WORKER))
    owner, worker = tenant.owner, tenant.members[Role.WORKER]
    r = await client.patch(
        f"/api/users/{worker.user_id}",
        headers=owner.headers,
        json={"role": "supervisor", "version": 1},
    )
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "supervisor"
    assert r.json()["version"] == 2
    assert r.headers["ETag"] == '"2"'

    before = await snapshot(store, tenant.org_id)
    stale = await client.patch(
        f"/api/users/{worker.user_id}", headers=owner.headers, json={"role": "admin", "version": 1}
    )
    assert stale.status_code == 409
    assert error_code(stale) == "stale_version"
    stale = await client.patch(
        f"/api/users/{worker.user_id}",
        headers={**owner.headers, "If-Match": '"1"'},
        json={"role": "admin"},
    )
    assert stale.status_code == 409
    assert error_code(stale) == "stale_version"
    bad = await client.patch(
        f"/api/users/{worker.user_id}",
        headers={**owner.headers, "If-Match": "yesterday"},
        json={"role": "admin"},
    )
    assert bad.status_code == 422
    assert error_code(bad) == "invalid_if_match"
    assert await snapshot(store, tenant.org_id) == before

    ok = await client.patch(
        f"/api/users/{worker.user_id}",
        headers={**owner.headers, "If-Match": '"2"'},
        json={"role": "admin"},
    )
    assert ok.status_code == 200
    assert ok.json()["role"] == "admin"
    changed = [
        e for e in await audit_items(store, tenant.org_id) if e["action"] == "user.role_changed"
    ]
    assert [e["changes"]["role"] for e in changed] == [
        {"old": "worker", "new": "supervisor"},
        {"old": "supervisor", "new": "admin"},
    ]
    assert all(e["target_id"] == worker.user_id and e["actor_id"] == owner.user_id for e in changed)


async def test_concurrent_role_changes_one_wins(client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(client, roles=(Role.OWNER, Role.WORKER))
    owner, worker = tenant.owner, tenant.members[Role.WORKER]
    responses = await asyncio.gather(
        *(
            client.patch(
                f"/api/users/{worker.user_id}",
                headers=owner.headers,
                json={"role": role, "version": 1},
            )
            for role in ("admin", "supervisor", "auditor")
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409]


async def test_the_last_owner_stays(client: httpx.AsyncClient, store: Store) -> None:
    owner = await register(client)
    before = await snapshot(store, owner.org_id)
    demote = await client.patch(
        f"/api/users/{owner.user_id}", headers=owner.headers, json={"role": "admin"}
    )
    assert demote.status_code == 409
    assert error_code(demote) == "last_owner"
    leave = await client.post(f"/api/users/{owner.user_id}/deactivate", headers=owner.headers)
    assert leave.status_code == 409
    assert error_code(leave) == "last_owner"
    assert await snapshot(store, owner.org_id) == before


async def test_two_owners_demoting_each_other_at_once_leave_one(
    client: httpx.AsyncClient,
) -> None:
    first = await register(client)
    second = await join(client, first, role=Role.ADMIN)
    r = await client.patch(
        f"/api/users/{second.user_id}", headers=first.headers, json={"role": "owner"}
    )
    assert r.status_code == 200
    responses = await asyncio.gather(
        client.patch(
            f"/api/users/{second.user_id}", headers=first.headers, json={"role": "worker"}
        ),
        client.patch(
            f"/api/users/{first.user_id}", headers=second.headers, json={"role": "worker"}
        ),
    )
    # exactly one demotion wins. The loser either raced it to the owner counter
    # (409 last_owner) or was authorised after it landed, as a worker (403).
    assert sorted(r.status_code for r in responses)[0] == 200
    losers = [(r.status_code, error_code(r)) for r in responses if r.status_code != 200]
    assert losers in ([(409, "last_owner")], [(403, "forbidden")])
    survivor = first if responses[1].status_code != 200 else second
    owners = await client.get("/api/users", headers=survivor.headers, params={"role": "owner"})
    assert [u["id"] for u in owners.json()["items"]] == [survivor.user_id]


async def test_admins_cannot_touch_owners(client: httpx.AsyncClient, store: Store) -> None:
    tenant = await make_tenant(client, roles=(Role.OWNER, Role.ADMIN, Role.WORKER))
    admin, owner = tenant.members[Role.ADMIN], tenant.owner
    before = await snapshot(store, tenant.org_id)
    attempts = [
        client.patch(f"/api/users/{owner.user_id}", headers=admin.headers, json={"role": "worker"}),
        client.post(f"/api/users/{owner.user_id}/deactivate", headers=admin.headers),
        client.patch(
            f"/api/users/{tenant.members[Role.WORKER].user_id}",
            headers=admin.headers,
            json={"role": "owner"},
        ),
    ]
    for attempt in attempts:
        r = await attempt
        assert r.status_code == 403
        assert error_code(r) == "forbidden"
    after = await snapshot(store, tenant.org_id)
    new_events = [e for e in after["audit-log"] if e not in before["audit-log"]]
    assert [e["action"] for e in new_events] == ["access.denied"] * 3
    assert {k: v for k, v in after.items() if k != "audit-log"} == {
        k: v for k, v in before.items() if k != "audit-log"
    }
    # but an admin manages everyone else
    r = await client.post(
        f"/api/users/{tenant.members[Role.WORKER].user_id}/deactivate", headers=admin.headers
    )
    assert r.status_code == 200


async def test_deactivate_twice_is_409(client: httpx.AsyncClient) -> None:
    tenant = await make_tenant(client, roles=(Role.OWNER, Role.WORKER))
    worker = tenant.members[Role.WORKER]
    url = f"/api/users/{worker.user_id}"
    assert (await client.post(url + "/deactivate", headers=tenant.owner.headers)).status_code == 200
    again = await client.post(url + "/deactivate", headers=tenant.owner.headers)
    assert again.status_code == 409
    assert error_code(again) == "already_deactivated"
    assert (await client.post(url + "/reactivate", headers=tenant.owner.headers)).status_code == 200
    again = await client.post(url + "/reactivate", headers=tenant.owner.headers)
    assert again.status_code == 409
    assert error_code(again) == "already_active"
    stale = await client.post(
        url + "/deactivate", headers=tenant.owner.headers, json={"version": 1}
    )
    assert stale.status_code == 409
    assert error_code(stale) == "stale_version"


async def test_concurrent_role_changes_without_a_version_all_apply(
    client: httpx.AsyncClient, store: Store
) -> None:
    tenant = await make_tenant(client, roles=(Role.OWNER, Role.WORKER))
    owner, worker = tenant.owner, tenant.members[Role.WORKER]
    roles = ("admin", "supervisor", "auditor", "admin")
    responses = await asyncio.gather(
        *(
            client.patch(f"/api/users/{worker.user_id}", headers=owner.headers, json={"role": role})
            for role in roles
        )
    )
    assert [r.status_code for r in responses] == [200] * len(roles), [r.text for r in responses]
    final = (await client.get(f"/api/users/{worker.user_id}", headers=owner.headers)).json()
    changed = [
        e
        for e in await audit_items(store, tenant.org_id)
        if e["action"] == "user.role_changed" and e["target_id"] == worker.user_id
    ]
    assert final["version"] == 1 + len(changed)
    assert changed[-1]["changes"]["role"]["new"] == final["role"]
