"""Denials are audited, repeats coalesced: one ``access.denied`` event per actor,
action and target per window, a counter for the rest, reported by the next window's
event. On the real engines; the clock is the test's."""

from __future__ import annotations

import time
import uuid

from prework.authz.authorize import DENIAL_WINDOW_SECONDS, audit_denial
from prework.core.principal import Principal, RequestContext, Role
from prework.errors import Forbidden
from prework.identity.permissions import IdentityAction
from prework.store.base import Store


async def _denials(store: Store, org_id: str) -> list[dict[str, object]]:
    page = await store.query("audit-log", pk=f"ORG#{org_id}")
    return [e for e in page.items if e["action"] == "access.denied"]


async def test_repeated_denials_write_one_event_per_window(store: Store) -> None:
    now = [(time.time() // DENIAL_WINDOW_SECONDS) * DENIAL_WINDOW_SECONDS + 1.0]
    worker = Principal(
        user_id=uuid.uuid4().hex,
        org_id=uuid.uuid4().hex,
        role=Role.WORKER,
        session_id="s",
        email="w@example.com",
    )
    ctx = RequestContext(request_id="r", client_ip="192.0.2.1")

    async def deny(target: str = "u1") -> None:
        await audit_denial(
            store,
            worker,
            ctx,
            IdentityAction.USER_DEACTIVATE,
            Forbidden("You may not do this."),
            "user",
            target,
            clock=lambda: now[0],
        )

    for _ in range(25):
        await deny()
    events = await _denials(store, worker.org_id)
    assert len(events) == 1
    assert "coalesced" not in events[0]["details"]  # type: ignore[operator]
    await deny("u2")  # another target is another event
    assert len(await _denials(store, worker.org_id)) == 2

    now[0] += DENIAL_WINDOW_SECONDS  # the next window
    await deny()
    await deny()
    events = [e for e in await _denials(store, worker.org_id) if e["target_id"] == "u1"]
    assert len(events) == 2
    assert events[-1]["details"]["coalesced"] == 24  # type: ignore[index]
