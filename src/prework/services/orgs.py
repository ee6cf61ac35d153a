"""The principal's own organization: read it, change its name and defaults.

There is no route to another organization: the organization is always the
principal's, so no id is taken from the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prework.domain.identity import Organization, Principal, RequestContext
from prework.domain.permissions import Action
from prework.errors import NotFound, StaleVersion, TransactionCanceled
from prework.services import audit, keys
from prework.services.audit import Actor
from prework.services.common import UNVERSIONED_ATTEMPTS, Clock, iso, system_clock
from prework.services.items import org_of
from prework.store.base import All, ItemExists, Store, Update, UpdateSpec, version_equals

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
    # without an expected version the change applies to whatever version is
    # current: a change landing between our read and our write is read again
    for _ in range(UNVERSIONED_ATTEMPTS):
        item = await _load(store, org_id)
        version = int(item["version"])
        if expected_version is not None and expected_version != version:
            raise StaleVersion(
                details={"current_version": version, "expected_version": expected_version}
            )
        delta = audit.diff(item, changes)
        if not delta:
            return org_of(item)
        now = iso(clock())
        new_values = {name: change["new"] for name, change in delta.items()}
        try:
            await store.transact_write(
                [
                    Update(
                        keys.ORGS,
                        keys.org_key(org_id),
                        UpdateSpec(set={**new_values, "updated_at": now, "version": version + 1}),
                        condition=All(ItemExists(), version_equals(version)),
                    ),
                    audit.event_op(
                        org_id=org_id,
                        action="org.updated",
                        actor=Actor.of(principal),
                        ctx=ctx,
                        target_type="organization",
                        target_id=org_id,
                        changes=delta,
                        clock=clock,
                    ),
                ]
            )
        except TransactionCanceled as exc:
            if expected_version is not None:
                fresh = await _load(store, org_id)
                raise StaleVersion(
                    details={
                        "current_version": int(fresh["version"]),
                        "expected_version": expected_version,
                    }
                ) from exc
            continue
        return org_of({**item, **new_values, "updated_at": now, "version": version + 1})
    raise StaleVersion("The organization keeps changing; try again.")
