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
from prework.errors import NotFound, StaleVersion, TransactionCanceled
from prework.services import audit, keys
from prework.services.audit import Actor
from prework.services.common import UNVERSIONED_ATTEMPTS, Clock, iso, system_clock
from prework.services.items import certification_value, profile_of
from prework.store.base import All, ItemExists, Store, Update, UpdateSpec, version_equals

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
    # without an expected version the change applies to whatever version is
    # current: a change landing between our read and our write is read again
    for _ in range(UNVERSIONED_ATTEMPTS):
        item = await _load(store, org_id, user_id)
        version = int(item["version"])
        if expected_version is not None and expected_version != version:
            raise StaleVersion(
                details={"current_version": version, "expected_version": expected_version}
            )
        delta = audit.diff(item, stored)
        if not delta:
            return profile_of(item)
        now = iso(clock())
        try:
            await store.transact_write(
                [
                    Update(
                        keys.PROFILES,
                        keys.profile_key(org_id, user_id),
                        UpdateSpec(set={**stored, "updated_at": now, "version": version + 1}),
                        condition=All(ItemExists(), version_equals(version)),
                    ),
                    audit.event_op(
                        org_id=org_id,
                        action="profile.updated",
                        actor=Actor.of(principal),
                        ctx=ctx,
                        target_type="profile",
                        target_id=user_id,
                        changes=delta,
                        clock=clock,
                    ),
                ]
            )
        except TransactionCanceled as exc:
            if expected_version is not None:
                fresh = await _load(store, org_id, user_id)
                raise StaleVersion(
                    details={
                        "current_version": int(fresh["version"]),
                        "expected_version": expected_version,
                    }
                ) from exc
            continue
        return profile_of({**item, **stored, "updated_at": now, "version": version + 1})
    raise StaleVersion("The profile keeps changing; try again.")
