"""The permission check services make: the matrix's answer, with a denial audited.

A denied request is refused with 403 ``forbidden`` and audited as an
``access.denied`` event (outcome ``denied``) naming the action, the role and
the target; but repeats are coalesced, so a client hammering a forbidden
route cannot grow the audit log at its request rate. Per organization,
actor, action and target, a counter item in the ``sessions`` table (TTL, like
the rate-limit counters) counts the denials of each window of
:data:`DENIAL_WINDOW_SECONDS`: the first denial of a window writes the event
and creates the counter in one transaction, later ones only add to the
counter, and the first event of the next window says in ``details.coalesced``
how many denials the previous window did not record one by one. Audit events
are never updated. A window's count is kept one window longer than the window,
so only a denial in the very next window reports it.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

from prework.authz import matrix
from prework.core import audit
from prework.core.audit import Actor
from prework.core.clock import Clock, system_clock
from prework.core.principal import Principal, RequestContext, Role
from prework.errors import Forbidden, TransactionCanceled, WriteConflict
from prework.store.base import ItemExists, ItemNotExists, Key, Put, Store, UpdateSpec

__all__ = [
    "DENIAL_WINDOW_SECONDS",
    "audit_denial",
    "authorize",
    "authorize_manage",
    "denial_counter_key",
]

DENIAL_WINDOW_SECONDS = 60
# the counters live with the sessions and rate-limit counters (a TTL table)
_COUNTERS = "sessions"
_KIND = "denials"


def denial_counter_key(
    org_id: str, actor_id: str, action: str, target: str, window_start: int
) -> Key:
    """The denial counter of one actor, action and target (hashed) in one window."""
    subject = "\x1f".join((org_id, actor_id, action, target))
    digest = hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return {"pk": f"DENY#{digest}", "sk": f"W#{window_start}"}


def _window(clock: Clock) -> int:
    return int(clock() // DENIAL_WINDOW_SECONDS) * DENIAL_WINDOW_SECONDS


async def audit_denial(
    store: Store,
    principal: Principal,
    ctx: RequestContext,
    action: StrEnum,
    exc: Forbidden,
    target_type: str | None,
    target_id: str | None,
    clock: Clock = system_clock,
) -> None:
    """Audit one denial: the window's first writes ``access.denied`` together with the
    window's counter (one transaction); repeats only add to the counter."""
    target = f"{target_type}#{target_id}" if target_type is not None else "-"
    org, actor = principal.org_id, principal.user_id
    start = _window(clock)
    key = denial_counter_key(org, actor, action.value, target, start)
    previous = await store.get(
        _COUNTERS,
        denial_counter_key(org, actor, action.value, target, start - DENIAL_WINDOW_SECONDS),
    )
    coalesced = max(0, int(previous["count"]) - 1) if previous else 0
    details: dict[str, object] = {
        "permission": action.value,
        "role": principal.role.value,
        "reason": exc.message,
    }
    if coalesced:
        details["coalesced"] = coalesced
    counter = {
        **key,
        "kind": _KIND,
        "count": 1,
        "expires_at": start + 2 * DENIAL_WINDOW_SECONDS + 60,
    }
    try:
        await store.transact_write(
            [
                Put(_COUNTERS, counter, condition=ItemNotExists()),
                audit.event_op(
                    org_id=org,
                    action="access.denied",
                    actor=Actor.of(principal),
                    ctx=ctx,
                    target_type=target_type,
                    target_id=target_id,
                    outcome="denied",
                    details=details,
                    clock=clock,
                ),
            ]
        )
    except (TransactionCanceled, WriteConflict):
        # this window's event is written (or being written): count the repeat
        await store.update(_COUNTERS, key, UpdateSpec(add={"count": 1}), condition=ItemExists())


async def authorize(
    store: Store,
    principal: Principal,
    ctx: RequestContext,
    action: StrEnum,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
) -> None:
    """:func:`prework.authz.matrix.require`, auditing a denial (``access.denied``,
    repeats coalesced)."""
    try:
        matrix.require(principal, action)
    except Forbidden as exc:
        await audit_denial(store, principal, ctx, action, exc, target_type, target_id)
        raise


async def authorize_manage(
    store: Store,
    principal: Principal,
    ctx: RequestContext,
    action: StrEnum,
    *,
    target_role: Role | None = None,
    new_role: Role | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
) -> None:
    """:func:`prework.authz.matrix.require_manage`, auditing a denial (coalesced)."""
    try:
        matrix.require_manage(principal, action, target_role=target_role, new_role=new_role)
    except Forbidden as exc:
        await audit_denial(store, principal, ctx, action, exc, target_type, target_id)
        raise
