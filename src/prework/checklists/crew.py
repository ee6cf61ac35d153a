"""Who is on an assignment's crew: the assignee's checks, the crew fixed at the start
(a user, or a team's active members who fill in checklists), an amended crew's checks,
and the crew entries that put a started job in each member's own listing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from prework.authz.matrix import is_allowed
from prework.checklists import work_repository as repo
from prework.checklists._work import WorkBase
from prework.checklists.permissions import ChecklistAction as Action
from prework.checklists.workflow import MAX_CREW, Assignee
from prework.errors import Conflict, ValidationFailed
from prework.identity.models import UserStatus
from prework.identity.users import find_members
from prework.store.base import Delete, Put, TransactOp

__all__ = ["CrewRules", "CrewStale", "crew_ops"]

# a team's crew is drawn from its active members, at most this many (more: too large)
_CREW_SCAN: Final = 4 * MAX_CREW


class CrewStale(Exception):
    """The crew was computed for an assignee the assignment no longer has."""


def crew_ops(
    org_id: str,
    assignment_id: str,
    assignee: Assignee,
    old: Sequence[str],
    new: Sequence[str],
    due_at: str,
) -> list[TransactOp]:
    """Crew entries to delete and to put so that the fixed crew is ``new`` (the
    assignee user needs none: the assignment itself is in their listing)."""
    skip = {assignee.id} if assignee.type == "user" else set()
    before, after = set(old) - skip, set(new) - skip
    ops: list[TransactOp] = [
        Delete(repo.ASSIGNMENTS, repo.crew_key(org_id, assignment_id, u))
        for u in sorted(before - after)
    ]
    ops += [
        Put(repo.ASSIGNMENTS, repo.crew_entry(org_id, assignment_id, u, due_at, assignee))
        for u in sorted(after - before)
    ]
    return ops


class CrewRules(WorkBase):
    # ------------------------------------------------------------------ checks
    async def _assignee(self, org_id: str, assignee: Assignee) -> None:
        """The assignee is an active member or an active team of the organization (422)."""
        if assignee.type == "user":
            found = await find_members(self.store, org_id, [assignee.id])
            user = found.get(assignee.id)
            if user is None:
                raise ValidationFailed("No such member.", code="unknown_member")
            if user.status is not UserStatus.ACTIVE:
                raise ValidationFailed("The member is deactivated.", code="member_inactive")
            if not is_allowed(user.role, Action.ASSIGNMENT_WORK):
                raise ValidationFailed(
                    f"A member with the role {user.role.value} does not fill in checklists.",
                    code="member_cannot_work",
                )
        elif await self.teams.active_team(org_id, assignee.id) is None:
            raise ValidationFailed("No such active team.", code="unknown_team")

    async def _crew_of(self, org_id: str, assignee: Assignee) -> list[str]:
        """Who signs, fixed at the start: the assignee, or the team's active members."""
        if assignee.type == "user":
            await self._assignee(org_id, assignee)
            return [assignee.id]
        if await self.teams.active_team(org_id, assignee.id) is None:
            raise Conflict("The assigned team is archived.", code="team_archived")
        members = await self.teams.active_member_ids(org_id, assignee.id, limit=_CREW_SCAN + 1)
        found = await find_members(self.store, org_id, members)
        # who may fill in: an auditor on the team reads its jobs but is not on a crew
        # (a crew member who cannot sign would hold the job forever)
        crew = [
            u
            for u in members
            if (user := found.get(u)) is not None
            and user.status is UserStatus.ACTIVE
            and is_allowed(user.role, Action.ASSIGNMENT_WORK)
        ]
        if not crew:
            raise Conflict(
                "The assigned team has no active members who fill in checklists.",
                code="empty_crew",
            )
        if len(crew) > MAX_CREW or len(members) > _CREW_SCAN:
            raise Conflict(
                f"A crew is at most {MAX_CREW} people; the team has more.",
                code="crew_too_large",
                details={"max": MAX_CREW},
            )
        return crew

    async def _check_crew(self, org_id: str, user_ids: Sequence[str]) -> None:
        if not 1 <= len(user_ids) <= MAX_CREW:
            raise ValidationFailed(
                f"A crew is 1..{MAX_CREW} people.",
                code="invalid_crew_size",
                details={"max": MAX_CREW},
            )
        if len(set(user_ids)) != len(user_ids):
            raise ValidationFailed("A member is listed more than once.", code="duplicate_member")
        found = await find_members(self.store, org_id, user_ids)
        unknown = [u for u in user_ids if u not in found]
        if unknown:
            raise ValidationFailed(
                "No such member of the organization.",
                code="unknown_member",
                details={"user_ids": unknown},
            )
        inactive = [u for u in user_ids if found[u].status is not UserStatus.ACTIVE]
        if inactive:
            raise ValidationFailed(
                "A deactivated member cannot be on a crew.",
                code="member_inactive",
                details={"user_ids": inactive},
            )
        idle = [u for u in user_ids if not is_allowed(found[u].role, Action.ASSIGNMENT_WORK)]
        if idle:
            raise ValidationFailed(
                "An auditor does not fill in checklists and cannot be on a crew.",
                code="member_cannot_work",
                details={"user_ids": idle},
            )
