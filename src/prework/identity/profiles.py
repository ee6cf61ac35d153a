"""Profiles: everyone reads and updates their own; managers read their members'.

A profile lives next to its user in the same organization partition
(``pk=ORG#<org>``, ``sk=PROFILE#<user>``); asking for a user of another
organization finds nothing (404).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prework.domain.identity import Certification, Principal, Profile, RequestContext
from prework.domain.permissions import Action
from prework.errors import NotFound
from prework.services import audit, keys
from prework.services.common import Clock, system_clock
from prework.services.items import certification_value, profile_of
from prework.services.versioned import update_versioned
from prework.store.base import Store

__all__ = ["UPDATABLE", "get", "get_own", "update_own"]

UPDATABLE = frozenset(
    {
        "display_name",
        "phone",
        "job_title",
        "certifications",
        "avatar_media_id",
        "locale",
        "time_zone",
    }
)


async def _load(store: Store, org_id: str, user_id: str) -> dict[str, Any]:
    item = await store.get(keys.PROFILES, keys.profile_key(org_id, user_id))
    if item is None:
        raise NotFound("No such profile.", code="not_found")
    return item


async def get_own(store: Store, *, principal: Principal, ctx: RequestContext) -> Profile:
    await audit.require(store, principal, ctx, Action.PROFILE_READ_OWN)
    return profile_of(await _load(store, principal.org_id, principal.user_id))


async def get(store: Store, *, principal: Principal, ctx: RequestContext, user_id: str) -> Profile:
    if user_id == principal.user_id:
        return await get_own(store, principal=principal, ctx=ctx)
    await audit.require(
        store, principal, ctx, Action.PROFILE_READ_ANY, target_type="user", target_id=user_id
    )
    return profile_of(await _load(store, principal.org_id, user_id))


def _stored(name: str, value: Any) -> Any:
    if name == "certifications":
        return [certification_value(c) for c in value]
    return value


async def update_own(
    store: Store,
    *,
    principal: Principal,
    ctx: RequestContext,
    changes: Mapping[str, Any],
    expected_version: int | None = None,
    clock: Clock = system_clock,
) -> Profile:
    """Apply ``changes`` (a subset of :data:`UPDATABLE`; ``certifications`` as a
    sequence of :class:`Certification`) to the principal's own profile."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    for cert in changes.get("certifications") or ():
        assert isinstance(cert, Certification)
    await audit.require(store, principal, ctx, Action.PROFILE_UPDATE_OWN)
    org_id, user_id = principal.org_id, principal.user_id
    stored = {name: _stored(name, value) for name, value in changes.items()}
    item = await update_versioned(
        store,
        table=keys.PROFILES,
        key=keys.profile_key(org_id, user_id),
        load=lambda: _load(store, org_id, user_id),
        new_values=stored,
        expected_version=expected_version,
        principal=principal,
        ctx=ctx,
        action="profile.updated",
        target_type="profile",
        target_id=user_id,
        what="profile",
        clock=clock,
    )
    return profile_of(item)
