"""The principal's own organization: read it, change its name and defaults.

There is no route to another organization: the organization is always the
principal's, so no id is taken from the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prework.domain.identity import Organization, Principal, RequestContext
from prework.domain.permissions import Action
from prework.errors import NotFound
from prework.services import audit, keys
from prework.services.common import Clock, system_clock
from prework.services.items import org_of
from prework.services.versioned import update_versioned
from prework.store.base import Store

__all__ = ["UPDATABLE", "get_current", "update_current"]

UPDATABLE = frozenset({"name", "locale", "time_zone"})


async def _load(store: Store, org_id: str) -> dict[str, Any]:
    item = await store.get(keys.ORGS, keys.org_key(org_id))
    if item is None:  # the principal's org always exists; a missing one is a bug
        raise NotFound("No such organization.", code="not_found")
    return item


async def get_current(store: Store, *, principal: Principal, ctx: RequestContext) -> Organization:
    await audit.require(store, principal, ctx, Action.ORG_READ)
    return org_of(await _load(store, principal.org_id))


async def update_current(
    store: Store,
    *,
    principal: Principal,
    ctx: RequestContext,
    changes: Mapping[str, Any],
    expected_version: int | None = None,
    clock: Clock = system_clock,
) -> Organization:
    """Apply ``changes`` (a subset of :data:`UPDATABLE`) to the principal's organization."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    org_id = principal.org_id
    await audit.require(
        store, principal, ctx, Action.ORG_UPDATE, target_type="organization", target_id=org_id
    )
    item = await update_versioned(
        store,
        table=keys.ORGS,
        key=keys.org_key(org_id),
        load=lambda: _load(store, org_id),
        new_values=changes,
        expected_version=expected_version,
        principal=principal,
        ctx=ctx,
        action="org.updated",
        target_type="organization",
        target_id=org_id,
        what="organization",
        clock=clock,
    )
    return org_of(item)
