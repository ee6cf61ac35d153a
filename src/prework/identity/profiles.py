"""Profiles: everyone reads and updates their own; managers read their members'.

A profile lives next to its user in the same organization partition; asking
for a user of another organization finds nothing (404).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prework.authz.authorize import authorize
from prework.core.clock import Clock, system_clock
from prework.core.principal import Principal, RequestContext
from prework.core.versioned import update_versioned
from prework.errors import NotFound
from prework.identity import repository as repo
from prework.identity.models import Certification, Profile
from prework.identity.permissions import IdentityAction as Action
from prework.store.base import Store

__all__ = ["UPDATABLE", "ProfileService"]

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


def _stored(name: str, value: Any) -> Any:
    if name == "certifications":
        return [repo.certification_value(c) for c in value]
    return value


class ProfileService:
    def __init__(self, store: Store, *, clock: Clock = system_clock) -> None:
        self.store = store
        self.clock = clock

    async def _load(self, org_id: str, user_id: str) -> dict[str, Any]:
        item = await self.store.get(repo.PROFILES, repo.profile_key(org_id, user_id))
        if item is None:
            raise NotFound("No such profile.", code="not_found")
        return item

    async def get_own(self, *, principal: Principal, ctx: RequestContext) -> Profile:
        await authorize(self.store, principal, ctx, Action.PROFILE_READ_OWN)
        return repo.profile_of(await self._load(principal.org_id, principal.user_id))

    async def get(self, *, principal: Principal, ctx: RequestContext, user_id: str) -> Profile:
        if user_id == principal.user_id:
            return await self.get_own(principal=principal, ctx=ctx)
        await authorize(
            self.store,
            principal,
            ctx,
            Action.PROFILE_READ_ANY,
            target_type="user",
            target_id=user_id,
        )
        return repo.profile_of(await self._load(principal.org_id, user_id))

    async def update_own(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        changes: Mapping[str, Any],
        expected_version: int | None = None,
    ) -> Profile:
        """Apply ``changes`` (a subset of :data:`UPDATABLE`; ``certifications`` as a
        sequence of :class:`Certification`) to the principal's own profile."""
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        for cert in changes.get("certifications") or ():
            assert isinstance(cert, Certification)
        await authorize(self.store, principal, ctx, Action.PROFILE_UPDATE_OWN)
        org_id, user_id = principal.org_id, principal.user_id
        item = await update_versioned(
            self.store,
            table=repo.PROFILES,
            key=repo.profile_key(org_id, user_id),
            load=lambda: self._load(org_id, user_id),
            new_values={name: _stored(name, value) for name, value in changes.items()},
            expected_version=expected_version,
            principal=principal,
            ctx=ctx,
            action="profile.updated",
            target_type="profile",
            target_id=user_id,
            what="profile",
            clock=self.clock,
        )
        return repo.profile_of(item)
