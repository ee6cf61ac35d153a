"""The principal's own organization: read it, change its name and defaults.

There is no route to another organization: the organization is always the
principal's, so no id is taken from the caller.
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
from prework.identity.models import Organization
from prework.identity.permissions import IdentityAction as Action
from prework.store.base import Store

__all__ = ["UPDATABLE", "OrgService"]

UPDATABLE = frozenset({"name", "locale", "time_zone"})


class OrgService:
    def __init__(self, store: Store, *, clock: Clock = system_clock) -> None:
        self.store = store
        self.clock = clock

    async def _load(self, org_id: str) -> dict[str, Any]:
        item = await self.store.get(repo.ORGS, repo.org_key(org_id))
        if item is None:  # the principal's org always exists; a missing one is a bug
            raise NotFound("No such organization.", code="not_found")
        return item

    async def time_zone(self, org_id: str) -> str:
        """The organization's IANA time zone (for other areas' date rules)."""
        return repo.org_of(await self._load(org_id)).time_zone or "UTC"

    async def get_current(self, *, principal: Principal, ctx: RequestContext) -> Organization:
        await authorize(self.store, principal, ctx, Action.ORG_READ)
        return repo.org_of(await self._load(principal.org_id))

    async def update_current(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        changes: Mapping[str, Any],
        expected_version: int | None = None,
    ) -> Organization:
        """Apply ``changes`` (a subset of :data:`UPDATABLE`) to the principal's organization."""
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        org_id = principal.org_id
        target = {"target_type": "organization", "target_id": org_id}
        await authorize(self.store, principal, ctx, Action.ORG_UPDATE, **target)
        item = await update_versioned(
            self.store,
            table=repo.ORGS,
            key=repo.org_key(org_id),
            load=lambda: self._load(org_id),
            new_values=changes,
            expected_version=expected_version,
            principal=principal,
            ctx=ctx,
            action="org.updated",
            what="organization",
            clock=self.clock,
            **target,
        )
        return repo.org_of(item)
