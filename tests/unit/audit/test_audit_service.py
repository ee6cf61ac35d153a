"""The audit service on the in-memory store: events, filters, cursor pagination."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from prework.audit.service import AuditEvent, AuditFilter, AuditService
from prework.core import audit
from prework.core.audit import Actor
from prework.core.principal import ActorType, Principal, RequestContext, Role
from prework.errors import Forbidden, ValidationFailed
from prework.store.memory import MemoryStore

CTX = RequestContext(request_id="r1", client_ip="10.0.0.1", user_agent="ua/" + "x" * 1000)
ORG = "org1"
ADMIN = Principal(user_id="admin", org_id=ORG, role=Role.ADMIN, session_id="s", email="a@e.com")


def ticking(start: float) -> Callable[[], float]:
    counter = itertools.count()
    return lambda: start + next(counter) * 0.001


async def seeded() -> MemoryStore:
    store = MemoryStore()
    clock = ticking(time.time() - 100)
    for i in range(30):
        await audit.record(
            store,
            org_id=ORG,
            action="user.role_changed" if i % 3 else "profile.updated",
            actor=Actor.of(ADMIN) if i % 2 else Actor(ActorType.USER, "u2"),
            ctx=CTX,
            target_type="user",
            target_id=f"t{i % 5}",
            clock=clock,
        )
    # another organization's events never show
    await audit.record(
        store, org_id="org2", action="user.role_changed", actor=Actor.of(ADMIN), ctx=CTX
    )
    return store


async def pages(store: MemoryStore, limit: int, **filters: Any) -> list[AuditEvent]:
    out: list[AuditEvent] = []
    cursor = None
    while True:
        page = await AuditService(store).list(
            principal=ADMIN,
            ctx=CTX,
            filters=AuditFilter(**filters),
            limit=limit,
            cursor=cursor,
        )
        assert len(page.items) <= limit
        out += page.items
        cursor = page.next_cursor
        if cursor is None:
            return out


async def test_event_shape() -> None:
    store = await seeded()
    (event,) = (
        await AuditService(store).list(principal=ADMIN, ctx=CTX, filters=AuditFilter(), limit=1)
    ).items
    assert event.org_id == ORG
    assert event.request_id == "r1"
    assert event.client_ip == "10.0.0.1"
    assert event.user_agent is not None
    assert len(event.user_agent) == audit.MAX_USER_AGENT


@pytest.mark.parametrize("limit", [1, 4, 7, 30, 200])
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"action": "profile.updated"},
        {"actor_id": "u2"},
        {"target_type": "user", "target_id": "t3"},
        {
            "actor_id": "admin",
            "action": "user.role_changed",
            "target_type": "user",
            "target_id": "t1",
        },
        {"target_type": "user"},
    ],
)
async def test_filters_and_pages_agree_with_a_full_read(
    limit: int, filters: dict[str, str]
) -> None:
    store = await seeded()
    got = await pages(store, limit, **filters)
    everything = await pages(store, 200)
    assert len(everything) == 30
    expected = [
        e for e in everything if all(getattr(e, name) == value for name, value in filters.items())
    ]
    assert [e.id for e in got] == [e.id for e in expected]
    assert [e.at for e in got] == sorted((e.at for e in got), reverse=True)


async def test_time_range() -> None:
    store = await seeded()
    everything = await pages(store, 200)
    middle = datetime.strptime(everything[10].at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    since = await pages(store, 4, since=middle)
    until = await pages(store, 4, until=middle)
    assert [e.id for e in since] == [e.id for e in everything[:11]]
    assert [e.id for e in until] == [e.id for e in everything[10:]]


async def test_secret_fields_are_refused() -> None:
    for field in ("password", "password_hash", "refresh_hash", "token"):
        with pytest.raises(ValueError, match="secret"):
            audit.event_op(
                org_id=ORG,
                action="x",
                actor=Actor.of(ADMIN),
                ctx=CTX,
                changes={field: {"old": None, "new": "s3cret"}},
            )


async def test_reading_needs_the_permission_and_a_denial_is_audited() -> None:
    store = await seeded()
    worker = Principal(user_id="w", org_id=ORG, role=Role.WORKER, session_id="s", email="w@e.com")
    with pytest.raises(Forbidden):
        await AuditService(store).list(principal=worker, ctx=CTX, filters=AuditFilter())
    newest = (
        await AuditService(store).list(principal=ADMIN, ctx=CTX, filters=AuditFilter(), limit=1)
    ).items[0]
    assert (newest.action, newest.actor_id, newest.outcome) == ("access.denied", "w", "denied")
    assert newest.details["permission"] == "audit.read"


async def test_bad_cursor() -> None:
    store = await seeded()
    for cursor in ("%%%", "bnVsbA", "eyJzayI6IDF9"):  # garbage, null, {"sk": 1}
        with pytest.raises(ValidationFailed) as info:
            await AuditService(store).list(
                principal=ADMIN, ctx=CTX, filters=AuditFilter(), cursor=cursor
            )
        assert info.value.code == "invalid_cursor"
