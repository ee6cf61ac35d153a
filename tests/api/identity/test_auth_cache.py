"""What authentication may reuse between requests, and for how long.

A node forgets what it changes at once (the immediate-effect tests in
test_auth.py and test_tokens.py); another node, which cannot hear of the
change, refuses the session within AUTH_CACHE_SECONDS. Two apps, each with
its own store object over the same engine, are two nodes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
from fastapi import FastAPI

from prework.app import create_app
from prework.config import Settings
from prework.core.principal import Role
from prework.identity.sessions import AUTH_CACHE_SECONDS

from .helpers import error_code, join, register

AppClient = Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_another_node_refuses_a_logged_out_session_within_the_bound(
    settings: Settings, app_client: AppClient
) -> None:
    async with app_client(create_app(settings)) as a, app_client(create_app(settings)) as b:
        owner = await register(a)
        assert (await b.get("/api/auth/me", headers=owner.headers)).status_code == 200
        assert (await a.post("/api/auth/logout", headers=owner.headers)).status_code == 204
        here = await a.get("/api/auth/me", headers=owner.headers)
        assert here.status_code == 401  # the node that changed it: at once
        await asyncio.sleep(AUTH_CACHE_SECONDS + 0.1)
        there = await b.get("/api/auth/me", headers=owner.headers)
        assert there.status_code == 401  # the other node: within the bound
        assert error_code(there) == "session_revoked"


async def test_another_node_applies_a_role_change_within_the_bound(
    settings: Settings, app_client: AppClient
) -> None:
    async with app_client(create_app(settings)) as a, app_client(create_app(settings)) as b:
        owner = await register(a)
        admin = await join(a, owner, role=Role.ADMIN)
        assert (await b.get("/api/audit", headers=admin.headers)).status_code == 200
        r = await a.patch(
            f"/api/users/{admin.user_id}", headers=owner.headers, json={"role": "worker"}
        )
        assert r.status_code == 200
        assert (await a.get("/api/audit", headers=admin.headers)).status_code == 403
        await asyncio.sleep(AUTH_CACHE_SECONDS + 0.1)
        assert (await b.get("/api/audit", headers=admin.headers)).status_code == 403


async def test_me_shows_an_organization_renamed_on_this_node_at_once(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client, org_name="Before")
    assert (await client.get("/api/auth/me", headers=owner.headers)).json()["organization"][
        "name"
    ] == "Before"
    r = await client.patch("/api/orgs/current", headers=owner.headers, json={"name": "After"})
    assert r.status_code == 200, r.text
    me = await client.get("/api/auth/me", headers=owner.headers)
    assert me.json()["organization"]["name"] == "After"


async def test_unversioned_writes_to_one_profile_from_16_clients_all_apply(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """No If-Match: each change applies to the version current when it is written."""
    owner = await register(client)
    before = (await client.get("/api/profiles/me", headers=owner.headers)).json()["version"]
    names = [f"Name {i}" for i in range(16)]
    answers = await asyncio.gather(
        *(
            client.patch("/api/profiles/me", headers=owner.headers, json={"display_name": name})
            for name in names
        )
    )
    ok = [r for r in answers if r.status_code == 200]
    if settings.store.startswith("sqlite"):
        assert len(ok) == 16, [r.text for r in answers if r.status_code != 200]
    else:  # DynamoDB: conditional writes, read again on a lost race (a few times)
        assert len(ok) >= 15, [r.text for r in answers if r.status_code != 200]
    assert sorted(r.json()["version"] for r in ok) == list(range(before + 1, before + 1 + len(ok)))
    after = (await client.get("/api/profiles/me", headers=owner.headers)).json()
    assert after["version"] == before + len(ok)
    assert after["display_name"] in names
