"""Helpers of the teams API tests: members in bulk, team reads from storage, bus events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import httpx

from prework.core.clock import iso, system_clock
from prework.core.principal import Role
from prework.identity import repository as identity_repo
from prework.pubsub.base import Subscription
from prework.store.base import Store

from ..identity.helpers import Member


async def seed_members(store: Store, org_id: str, count: int) -> list[str]:
    """``count`` active workers of ``org_id``, written straight to the store (fast:
    a 1,000-member team needs 1,000 members; signing each up would take minutes)."""
    now = iso(system_clock())
    ids = [uuid.uuid4().hex for _ in range(count)]
    await store.batch_write(
        identity_repo.USERS,
        puts=[
            identity_repo.user_item(
                org_id=org_id,
                user_id=u,
                email=f"seed-{u}@example.com",
                role=Role.WORKER,
                password_hash="$argon2id$seeded-not-a-hash",
                now=now,
            )
            for u in ids
        ],
    )
    return ids


async def team_items(store: Store, org_id: str) -> list[dict[str, Any]]:
    """Every item of the organization's partition of the teams table."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await store.query("teams", pk=f"ORG#{org_id}", cursor=cursor)
        items.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            return items


def teams_and_memberships(
    items: Sequence[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    teams = [i for i in items if i.get("type") == "team"]
    return teams, [i for i in items if i.get("type") == "membership"]


async def create_team(
    client: httpx.AsyncClient,
    by: Member,
    name: str = "Crew",
    members: Sequence[tuple[str, str]] = (),
    *,
    key: str | None = None,
) -> httpx.Response:
    headers = dict(by.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(
        "/api/teams",
        headers=headers,
        json={"name": name, "members": [{"user_id": u, "role": r} for u, r in members]},
    )


async def drain(subscription: Subscription, *, quiet: float = 0.2) -> list[dict[str, Any]]:
    """The events the subscription has received so far (waits ``quiet`` s for more)."""
    events: list[dict[str, Any]] = []
    iterator = aiter(subscription)
    while True:
        try:
            message = await asyncio.wait_for(anext(iterator), quiet)
        except (TimeoutError, StopAsyncIteration):
            return events
        events.append(message.event)
