"""A 1,000-member creation killed between batches, then retried (or swept), on both engines.

The writer is killed at the store port: :class:`CrashingStore` wraps the real store
and sends a batch write on as chunks of 25, one engine call each, failing (like a
lost engine or a killed process) once ``crash_after`` chunks have been written, so
half the memberships are stored when the request fails. Storage is read back to
prove a reader never saw a half-filled team and that the retry finished the same one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import httpx

from prework.app import create_app
from prework.blobs.base import BlobStore
from prework.config import Settings
from prework.core.principal import Role
from prework.errors import Unavailable
from prework.store.base import BATCH_WRITE_CHUNK, Item, Key, Store

from ..identity.helpers import Tenant, audit_items, error_code, make_tenant
from ..stores import DelegatingStore
from .helpers import create_team, seed_members, team_items, teams_and_memberships

T = TypeVar("T")

MEMBERS = 1000
ClientOf = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


class CrashingStore(DelegatingStore):
    """The real store, whose batch writes fail after ``crash_after`` chunks (when set)."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.crash_after: int | None = None
        self.chunks = 0
        # run once, right after the next batch write (a sweeper running meanwhile)
        self.after_batch: Callable[[], Awaitable[object]] | None = None

    async def batch_write(
        self, table: str, *, puts: Sequence[Item] = (), deletes: Sequence[Key] = ()
    ) -> None:
        if self.crash_after is None:
            await self.inner.batch_write(table, puts=puts, deletes=deletes)
            hook, self.after_batch = self.after_batch, None
            if hook is not None:
                await hook()
            return
        for start in range(0, len(puts), BATCH_WRITE_CHUNK):
            if self.chunks >= self.crash_after:
                raise Unavailable("the writer was killed")
            await self.inner.batch_write(table, puts=puts[start : start + BATCH_WRITE_CHUNK])
            self.chunks += 1
        if deletes:
            await self.inner.batch_write(table, deletes=deletes)


async def _crashed_create(
    client: httpx.AsyncClient, crashing: CrashingStore, store: Store
) -> tuple[Tenant, list[str], httpx.Response]:
    tenant = await make_tenant(client, "Big Org", roles=(Role.OWNER, Role.SUPERVISOR))
    ids = await seed_members(store, tenant.org_id, MEMBERS)
    crashing.crash_after = 20  # 500 of 1,000 memberships written, then the writer dies
    r = await create_team(
        client,
        tenant.members[Role.SUPERVISOR],
        "Shutdown crew",
        [(u, "member") for u in ids],
        key="create-crew-1",
    )
    crashing.crash_after = None
    assert (r.status_code, error_code(r)) == (503, "unavailable")
    return tenant, ids, r


async def _assert_nobody_sees_it(
    client: httpx.AsyncClient, store: Store, tenant: Tenant, ids: list[str]
) -> str:
    teams, memberships = await stored(store, tenant)
    (team,) = teams
    assert team["status"] == "creating"
    assert len(memberships) == MEMBERS // 2  # half written: the crash was between batches
    sup = tenant.members[Role.SUPERVISOR]
    assert (await client.get("/api/teams", headers=sup.headers)).json()["items"] == []
    r = await client.get(f"/api/teams/{team['id']}", headers=sup.headers)
    assert r.status_code == 404
    r = await client.get("/api/teams", headers=sup.headers, params={"user_id": ids[0]})
    assert r.json()["items"] == []
    return str(team["id"])


async def stored(store: Store, tenant: Tenant) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return teams_and_memberships(await team_items(store, tenant.org_id))


async def test_a_retry_finishes_the_interrupted_team(
    settings: Settings, store: Store, blobs: BlobStore, app_client: ClientOf
) -> None:
    crashing = CrashingStore(store)
    app = create_app(settings, store=crashing, blobs=blobs)
    async with app_client(app) as client:
        tenant, ids, _ = await _crashed_create(client, crashing, store)
        team_id = await _assert_nobody_sees_it(client, store, tenant, ids)

        sup = tenant.members[Role.SUPERVISOR]
        r = await create_team(
            client,
            sup,
            "Shutdown crew",
            [(u, "member") for u in reversed(ids)],
            key="create-crew-1",
        )
        assert r.status_code == 201, r.text
        assert (r.json()["id"], r.json()["status"], r.json()["member_count"]) == (
            team_id,
            "active",
            MEMBERS,
        )
        teams, memberships = await stored(store, tenant)
        assert [t["id"] for t in teams] == [team_id]
        assert sorted(m["user_id"] for m in memberships) == sorted(ids)
        assert {m["status"] for m in memberships} == {"active"}
        actions = [
            e["action"]
            for e in await audit_items(store, tenant.org_id)
            if e["target_id"] == team_id
        ]
        assert actions == ["team.created", "team.activated"]
        listed = (await client.get("/api/teams", headers=sup.headers)).json()["items"]
        assert [t["id"] for t in listed] == [team_id]
        mine = await client.get("/api/teams", headers=sup.headers, params={"user_id": ids[-1]})
        assert [t["id"] for t in mine.json()["items"]] == [team_id]
        # and once more: the finished team's answer again, nothing written
        events = len(await audit_items(store, tenant.org_id))
        again = await create_team(
            client,
            sup,
            "Shutdown crew",
            [(u, "member") for u in reversed(ids)],
            key="create-crew-1",
        )
        assert (again.status_code, again.json()["id"]) == (201, team_id)
        assert again.headers["Idempotent-Replayed"] == "true"
        # the key now belongs to that exact request: another body under it is refused
        other = await create_team(
            client, sup, "Shutdown crew", [(u, "member") for u in ids], key="create-crew-1"
        )
        assert (other.status_code, error_code(other)) == (422, "idempotency_key_reused")
        assert len(await audit_items(store, tenant.org_id)) == events
        assert len((await stored(store, tenant))[1]) == MEMBERS


async def test_the_sweeper_removes_an_abandoned_creation(
    settings: Settings, store: Store, blobs: BlobStore, app_client: ClientOf
) -> None:
    crashing = CrashingStore(store)
    app = create_app(settings, store=crashing, blobs=blobs)
    async with app_client(app) as client:
        tenant, ids, _ = await _crashed_create(client, crashing, store)
        team_id = await _assert_nobody_sees_it(client, store, tenant, ids)
        teams_service = app.state.services.teams.teams
        assert await teams_service.sweep() == 0  # not abandoned yet: too recent
        assert await teams_service.sweep(older_than=0) == 1
        assert await stored(store, tenant) == ([], [])
        actions = [
            e["action"]
            for e in await audit_items(store, tenant.org_id)
            if e["target_id"] == team_id
        ]
        assert actions == ["team.created", "team.creation_abandoned"]
        # a late retry starts the team again, under the same id, and finishes it
        sup = tenant.members[Role.SUPERVISOR]
        r = await create_team(
            client, sup, "Shutdown crew", [(u, "member") for u in ids], key="create-crew-1"
        )
        assert r.status_code == 201, r.text
        assert (r.json()["id"], r.json()["member_count"]) == (team_id, MEMBERS)


async def test_a_retry_swept_under_its_feet_starts_over_and_leaves_no_orphans(
    settings: Settings, store: Store, blobs: BlobStore, app_client: ClientOf
) -> None:
    crashing = CrashingStore(store)
    app = create_app(settings, store=crashing, blobs=blobs)
    async with app_client(app) as client:
        tenant, ids, _ = await _crashed_create(client, crashing, store)
        team_id = await _assert_nobody_sees_it(client, store, tenant, ids)
        teams_service = app.state.services.teams.teams
        swept: list[int] = []

        async def sweep() -> None:
            swept.append(await teams_service.sweep(older_than=0))

        # the retry writes every membership, then the sweeper removes the team (and
        # them) before the retry activates it: the retry takes down what it wrote
        # after the sweeper looked, and starts the team again
        crashing.after_batch = sweep
        sup = tenant.members[Role.SUPERVISOR]
        r = await create_team(
            client, sup, "Shutdown crew", [(u, "member") for u in ids], key="create-crew-1"
        )
        assert swept == [1]
        assert r.status_code == 201, r.text
        assert (r.json()["id"], r.json()["member_count"]) == (team_id, MEMBERS)
        teams, memberships = await stored(store, tenant)
        assert [(t["id"], t["status"]) for t in teams] == [(team_id, "active")]
        assert sorted(m["user_id"] for m in memberships) == sorted(ids)
        actions = [
            e["action"]
            for e in await audit_items(store, tenant.org_id)
            if e["target_id"] == team_id
        ]
        assert actions == [
            "team.created",
            "team.creation_abandoned",
            "team.created",
            "team.activated",
        ]


async def test_the_app_sweeps_abandoned_creations_in_the_background(
    settings: Settings, store: Store, blobs: BlobStore, app_client: ClientOf
) -> None:
    crashing = CrashingStore(store)
    quick = settings.model_copy(
        update={"team_sweep_interval_seconds": 0.2, "team_abandon_after_seconds": 2.0}
    )
    app = create_app(quick, store=crashing, blobs=blobs)
    async with app_client(app) as client:
        tenant, _ids, _ = await _crashed_create(client, crashing, store)
        for _ in range(150):  # the sweep runs every 0.2 s once the creation is 0.5 s old
            if not (await stored(store, tenant))[0]:
                break
            await asyncio.sleep(0.1)
        assert await stored(store, tenant) == ([], [])
        actions = [e["action"] for e in await audit_items(store, tenant.org_id)]
        assert "team.creation_abandoned" in actions
