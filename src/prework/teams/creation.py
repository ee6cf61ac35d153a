"""Creating a team of up to :data:`~prework.teams.models.MAX_CREATE_MEMBERS` members,
resumably, and sweeping away creations nobody finished (see :mod:`prework.teams.service`
for the three steps and what readers see meanwhile)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prework.authz.authorize import authorize
from prework.core.clock import iso
from prework.core.ids import derived_id, new_id
from prework.core.principal import Principal, RequestContext
from prework.core.versioned import UNVERSIONED_ATTEMPTS, keeps_changing
from prework.errors import (
    Conflict,
    TransactionCanceled,
    ValidationFailed,
    WriteConflict,
)
from prework.teams import repository as repo
from prework.teams._base import _VISIBLE, TeamBase, _Again
from prework.teams.models import (
    MAX_CREATE_MEMBERS,
    NewMember,
    Team,
    TeamStatus,
    creation_digest,
)
from prework.teams.permissions import TeamAction as Action

__all__ = ["ABANDON_AFTER_SECONDS", "TeamCreation"]

# a creation unfinished this long after it started is abandoned (the sweeper removes it)
ABANDON_AFTER_SECONDS = 15 * 60


class TeamCreation(TeamBase):
    """Resumable creation (start, memberships, activation) and the sweep of abandoned ones."""

    # ------------------------------------------------------------------ create
    async def create(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        name: str,
        members: Sequence[NewMember],
    ) -> Team:
        """A new active team with ``members``; under an idempotency key, a retry finishes
        (or returns) the team the first attempt started."""
        await authorize(self.store, principal, ctx, Action.TEAM_CREATE)
        org = principal.org_id
        if len(members) > MAX_CREATE_MEMBERS:
            raise ValidationFailed(
                f"A team is created with at most {MAX_CREATE_MEMBERS} members.",
                code="too_many_members",
                details={"max": MAX_CREATE_MEMBERS},
            )
        await self._check_members(org, [m.user_id for m in members])
        digest = creation_digest(name, members)
        key = ctx.idempotency_key
        team_id = derived_id("team", org, principal.user_id, key) if key else new_id()
        for _ in range(UNVERSIONED_ATTEMPTS):
            item = await self._start(principal, ctx, team_id, name, members, digest)
            if item.get("request_digest") != digest:
                raise Conflict(
                    "This Idempotency-Key was used for another request.",
                    code="idempotency_key_reused",
                )
            status = TeamStatus(item["status"])
            if status is TeamStatus.REMOVING:
                await self._take_down(item)
                continue  # removed: start again
            if status is not TeamStatus.CREATING:
                return repo.team_of(item)  # a retry of a finished creation
            try:
                return await self._finish(principal, ctx, item, members)
            except _Again:
                continue
        raise keeps_changing("team")

    async def _start(
        self,
        principal: Principal,
        ctx: RequestContext,
        team_id: str,
        name: str,
        members: Sequence[NewMember],
        digest: str,
    ) -> dict[str, Any]:
        """The team item: put ``creating`` with its event, or the one already there."""
        org = principal.org_id
        existing = await self._item(org, team_id)
        if existing is not None:
            return existing
        item = repo.creating_team_item(
            org_id=org,
            team_id=team_id,
            name=name,
            created_by=principal.user_id,
            now=iso(self.clock()),
            digest=digest,
            members=len(members),
        )
        event = self._event(
            principal,
            ctx,
            org,
            "team.created",
            team_id,
            changes={"name": {"old": None, "new": name}},
            details={"members": len(members)},
        )
        try:
            await self.store.transact_write([repo.creating_team_put(item), event])
        except (TransactionCanceled, WriteConflict):
            # a concurrent attempt under the same key got there first
            existing = await self._item(org, team_id)
            if existing is None:
                raise
            return existing
        return item

    async def _finish(
        self,
        principal: Principal,
        ctx: RequestContext,
        item: dict[str, Any],
        members: Sequence[NewMember],
    ) -> Team:
        org, team_id = item["org_id"], item["id"]
        # the same items on every attempt: who started the creation, and when
        memberships = [
            repo.membership_item(
                org_id=org,
                team_id=team_id,
                member=m,
                added_by=item["created_by"],
                now=item["created_at"],
            )
            for m in members
        ]
        if memberships:
            await self.store.batch_write(repo.TEAMS, puts=memberships)
        now = iso(self.clock())
        try:
            await self.store.transact_write(
                [
                    repo.activation_op(item, member_count=len(members), now=now),
                    self._event(
                        principal,
                        ctx,
                        org,
                        "team.activated",
                        team_id,
                        details={"members": len(members)},
                    ),
                ]
            )
        except (TransactionCanceled, WriteConflict) as exc:
            fresh = await self._item(org, team_id)
            if fresh is not None and TeamStatus(fresh["status"]) in _VISIBLE:
                return repo.team_of(fresh)  # a concurrent retry finished it
            if fresh is None or fresh["status"] == TeamStatus.REMOVING.value:
                # swept meanwhile: memberships we wrote after the sweeper read them
                # would outlive the team, so take it down ourselves (again)
                gone = {"org_id": org, "id": team_id, "status": TeamStatus.REMOVING.value}
                await self._take_down(fresh or gone)
            raise _Again from exc  # start over (still creating: a write in flight)
        team = repo.team_of(
            {**item, "status": TeamStatus.ACTIVE.value, "member_count": len(members)}
            | {"updated_at": now}
        )
        await self._publish(
            org,
            "team.created",
            team_id=team_id,
            actor_id=principal.user_id,
            name=team.name,
            member_count=team.member_count,
        )
        return team

    # ------------------------------------------------------------------ sweeper
    async def sweep(self, *, older_than: float = ABANDON_AFTER_SECONDS) -> int:
        """Remove every creation started more than ``older_than`` seconds ago and not
        finished; the number removed. The app may run it periodically; it is safe to
        run concurrently with itself and with retries."""
        cutoff = iso(self.clock() - older_than)
        removed = 0
        cursor = None
        while True:
            page = await self.store.query(
                repo.TEAMS,
                index="gsi1",
                pk=repo.CREATING_PK,
                sk_lte=cutoff,
                limit=100,
                cursor=cursor,
            )
            for found in page.items:
                item = await self._item(found["org_id"], found["id"])
                if item is None or item["status"] not in (
                    TeamStatus.CREATING.value,
                    TeamStatus.REMOVING.value,
                ):
                    continue
                await self._take_down(item)
                removed += 1
            cursor = page.cursor
            if cursor is None:
                return removed

    async def _take_down(self, item: dict[str, Any]) -> None:
        """Remove an unfinished creation: ``removing`` (audited), memberships, the team."""
        org, team_id = item["org_id"], item["id"]
        if item["status"] == TeamStatus.CREATING.value:
            try:
                await self.store.transact_write(
                    [
                        repo.removal_started_op(item, now=iso(self.clock())),
                        self._event(
                            None,
                            RequestContext(),
                            org,
                            "team.creation_abandoned",
                            team_id,
                            details={"members_requested": item.get("members_requested", 0)},
                        ),
                    ]
                )
            except (TransactionCanceled, WriteConflict):
                fresh = await self._item(org, team_id)
                if fresh is None or fresh["status"] != TeamStatus.REMOVING.value:
                    return  # finished (or removed) meanwhile
        cursor = None
        while True:
            page = await self.store.query(
                repo.TEAMS,
                pk=repo.team_pk(org),
                sk_prefix=repo.members_prefix(team_id),
                limit=500,
                cursor=cursor,
            )
            if page.items:
                await self.store.batch_write(
                    repo.TEAMS, deletes=[{"pk": i["pk"], "sk": i["sk"]} for i in page.items]
                )
            cursor = page.cursor
            if cursor is None:
                break
        await self.store.delete(repo.TEAMS, repo.team_key(org, team_id))
