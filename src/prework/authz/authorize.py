"""The permission check services make: the matrix's answer, with a denial audited.

A denied request is recorded as an ``access.denied`` event (outcome
``denied``) naming the action, the role and the target, then refused with
403 ``forbidden``.
"""

from __future__ import annotations

from enum import StrEnum

from prework.authz import matrix
from prework.core import audit
from prework.core.audit import Actor
from prework.core.principal import Principal, RequestContext, Role
from prework.errors import Forbidden
from prework.store.base import Store

__all__ = ["authorize", "authorize_manage"]


async def _denied(
    store: Store,
    principal: Principal,
    ctx: RequestContext,
    action: StrEnum,
    exc: Forbidden,
    target_type: str | None,
    target_id: str | None,
) -> None:
    await audit.record(
        store,
        org_id=principal.org_id,
        action="access.denied",
        actor=Actor.of(principal),
        ctx=ctx,
        target_type=target_type,
        target_id=target_id,
        outcome="denied",
        details={"permission": action.value, "role": principal.role.value, "reason": exc.message},
    )


async def authorize(
    store: Store,
    principal: Principal,
    ctx: RequestContext,
    action: StrEnum,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
) -> None:
    """:func:`prework.authz.matrix.require`, auditing a denial (``access.denied``)."""
    try:
        matrix.require(principal, action)
    except Forbidden as exc:
        await _denied(store, principal, ctx, action, exc, target_type, target_id)
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
    """:func:`prework.authz.matrix.require_manage`, auditing a denial."""
    try:
        matrix.require_manage(principal, action, target_role=target_role, new_role=new_role)
    except Forbidden as exc:
        await _denied(store, principal, ctx, action, exc, target_type, target_id)
        raise
