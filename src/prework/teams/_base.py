"""What the team services share: their ports, reads of one team, member checks,
audit events and publishing (:class:`TeamBase`), and their errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from prework.authz.authorize import authorize
from prework.authz.matrix import is_allowed
from prework.core import audit
from prework.core.audit import SYSTEM, Actor
from prework.core.clock import Clock, iso, system_clock
from prework.core.principal import Principal, RequestContext
from prework.errors import (
    Conflict,
    NotFound,
    PreworkError,
    ValidationFailed,
)
from prework.identity.models import UserStatus
from prework.identity.users import find_members
from prework.pubsub.base import PubSub, org_topic
from prework.store.base import Store, TransactOp
from prework.teams import repository as repo
from prework.teams.models import (
    MembershipStatus,
    Team,
    TeamStatus,
    duplicate_ids,
)
from prework.teams.permissions import TeamAction as Action

__all__ = ["TeamBase"]

log = structlog.get_logger("prework.teams")

_VISIBLE = (TeamStatus.ACTIVE, TeamStatus.ARCHIVED)
_LISTED_IDS = 20  # ids named in an error's details


def _not_found() -> NotFound:
    return NotFound("No such team.", code="not_found")


def _archived() -> Conflict:
    return Conflict("The team is archived; it cannot change.", code="team_archived")


def _ids_error(message: str, code: str, ids: Sequence[str]) -> ValidationFailed:
    return ValidationFailed(
        message, code=code, details={"user_ids": list(ids[:_LISTED_IDS]), "count": len(ids)}
    )


class _Raced(Exception):
    """The team changed between our read and our write."""


class _Again(Exception):
    """Finishing the creation met another change: read it and judge again."""


class TeamBase:
    """What every team service shares: the ports, reads, checks, events."""

    def __init__(self, store: Store, pubsub: PubSub, *, clock: Clock = system_clock) -> None:
        self.store = store
        self.pubsub = pubsub
        self.clock = clock

    # ------------------------------------------------------------------ helpers
    async def _publish(self, org_id: str, kind: str, **data: Any) -> None:
        event = {"type": kind, "org_id": org_id, "at": iso(self.clock()), **data}
        try:
            await self.pubsub.publish(org_topic(org_id), event)
        except PreworkError:
            log.exception("publish_failed", event_type=kind)

    async def _item(self, org_id: str, team_id: str) -> dict[str, Any] | None:
        item = await self.store.get(repo.TEAMS, repo.team_key(org_id, team_id))
        if item is None or not repo.is_team(item) or item.get("org_id") != org_id:
            return None
        return item

    async def _visible(self, org_id: str, team_id: str) -> dict[str, Any]:
        item = await self._item(org_id, team_id)
        if item is None or TeamStatus(item["status"]) not in _VISIBLE:
            raise _not_found()
        return item

    async def _active(self, org_id: str, team_id: str) -> dict[str, Any]:
        item = await self._visible(org_id, team_id)
        if item["status"] != TeamStatus.ACTIVE.value:
            raise _archived()
        return item

    async def _is_member(self, org_id: str, team_id: str, user_id: str) -> bool:
        item = await self.store.get(repo.TEAMS, repo.membership_key(org_id, team_id, user_id))
        return item is not None and item.get("status") == MembershipStatus.ACTIVE.value

    async def _readable(self, principal: Principal, ctx: RequestContext, team_id: str) -> Team:
        """The team, for whoever may read every team or belongs to it (else not found)."""
        org = principal.org_id
        target = {"target_type": "team", "target_id": team_id}
        if is_allowed(principal.role, Action.TEAM_READ):
            await authorize(self.store, principal, ctx, Action.TEAM_READ, **target)
            return repo.team_of(await self._visible(org, team_id))
        await authorize(self.store, principal, ctx, Action.TEAM_READ_OWN, **target)
        team = repo.team_of(await self._visible(org, team_id))
        if not await self._is_member(org, team_id, principal.user_id):
            raise _not_found()
        return team

    async def _check_members(self, org_id: str, user_ids: Sequence[str]) -> None:
        """Every id names an active member of the organization (else 422, nothing written)."""
        dupes = duplicate_ids(user_ids)
        if dupes:
            raise _ids_error("A member is listed more than once.", "duplicate_member", dupes)
        found = await find_members(self.store, org_id, user_ids)
        unknown = [u for u in user_ids if u not in found]
        if unknown:
            raise _ids_error("No such member of the organization.", "unknown_member", unknown)
        inactive = [u for u in user_ids if found[u].status is not UserStatus.ACTIVE]
        if inactive:
            raise _ids_error("A deactivated user cannot join a team.", "member_inactive", inactive)

    def _event(
        self,
        principal: Principal | None,
        ctx: RequestContext,
        org_id: str,
        action: str,
        team_id: str,
        *,
        changes: Mapping[str, Mapping[str, Any]] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> TransactOp:
        return audit.event_op(
            org_id=org_id,
            action=action,
            actor=Actor.of(principal) if principal is not None else SYSTEM,
            ctx=ctx,
            target_type="team",
            target_id=team_id,
            changes=changes,
            details=details,
            clock=self.clock,
        )
