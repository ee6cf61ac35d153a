"""Teams of an organization: create (resumable), list, read, rename, members, archive.

Creation of a team of up to :data:`MAX_CREATE_MEMBERS` members cannot be one
transaction (100 operations at most), so it goes in three steps, each safe to
repeat:

1. the team item is put ``creating`` (condition: the id is new) with its
   ``team.created`` audit event, in one transaction;
2. its memberships are written with ``store.batch_write`` (chunks of 25, the
   store retries unprocessed items); a membership is the same item whichever
   attempt writes it;
3. the team flips to ``active`` (condition: still ``creating``) with its
   ``team.activated`` event.

Readers see only active (and archived) teams: a ``creating`` team is not found,
is in no listing, and its memberships count in no user's teams. A retry under the
same ``Idempotency-Key`` derives the same team id, finds the ``creating`` team and
finishes steps 2 and 3. A creation nobody retries is removed by :meth:`sweep`
(after :data:`ABANDON_AFTER_SECONDS`): the team moves to ``removing`` with a
``team.creation_abandoned`` event, its memberships are deleted, then the team
item. A retry that meets a ``removing`` team finishes the removal and starts over.

Every other change is one transaction with its audit event. After a change commits
its event is published on the organization's topic (``team.created``,
``team.renamed``, ``team.members_changed``, ``team.archived``); a bus failure is
logged, never undoes the change.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from prework.authz.authorize import authorize
from prework.core.clock import iso
from prework.core.paging import MAX_PAGE_SIZE, Paged, clamp_limit
from prework.core.principal import Principal, RequestContext
from prework.core.versioned import UNVERSIONED_ATTEMPTS, check_version, keeps_changing, stale
from prework.errors import (
    Conflict,
    TransactionCanceled,
    ValidationFailed,
    WriteConflict,
)
from prework.store.base import MAX_BATCH_GET, TransactOp
from prework.teams import repository as repo
from prework.teams._base import _LISTED_IDS, _VISIBLE, _ids_error, _Raced
from prework.teams.creation import ABANDON_AFTER_SECONDS, TeamCreation
from prework.teams.models import (
    MAX_CHANGE_MEMBERS,
    Membership,
    MembershipStatus,
    NewMember,
    Team,
    TeamStatus,
    duplicate_ids,
)
from prework.teams.permissions import TeamAction as Action

__all__ = ["ABANDON_AFTER_SECONDS", "TeamService"]


class TeamService(TeamCreation):
    """Every team operation: creation (:class:`TeamCreation`), reads and changes."""

    # ------------------------------------------------------------------ reads
    async def get(self, *, principal: Principal, ctx: RequestContext, team_id: str) -> Team:
        return await self._readable(principal, ctx, team_id)

    async def members(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        team_id: str,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Paged[Membership]:
        """The team's active members, by user id."""
        await self._readable(principal, ctx, team_id)
        wanted = clamp_limit(limit)
        found: builtins.list[Membership] = []
        while True:  # removed memberships are skipped: read until the page is full
            page = await self.store.query(
                repo.TEAMS,
                pk=repo.team_pk(principal.org_id),
                sk_prefix=repo.members_prefix(team_id),
                limit=wanted - len(found),
                cursor=cursor,
            )
            found += [
                repo.membership_of(i)
                for i in page.items
                if i.get("status") == MembershipStatus.ACTIVE.value
            ]
            cursor = page.cursor
            if cursor is None or len(found) >= wanted:
                return Paged(found, cursor)

    async def list(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        status: TeamStatus = TeamStatus.ACTIVE,
        user_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Paged[Team]:
        """The organization's teams of ``status`` by name; or ``user_id``'s active teams
        (anyone may list their own)."""
        org = principal.org_id
        if user_id is not None:
            own = user_id == principal.user_id
            action = Action.TEAM_READ_OWN if own else Action.TEAM_LIST
            await authorize(self.store, principal, ctx, action)
            return await self._teams_of(org, user_id, limit=limit, cursor=cursor)
        await authorize(self.store, principal, ctx, Action.TEAM_LIST)
        if status not in _VISIBLE:
            raise ValidationFailed("Teams are listed as active or archived.", code="invalid_status")
        page = await self.store.query(
            repo.TEAMS,
            index="gsi1",
            pk=repo.teams_listing_pk(org, status),
            limit=clamp_limit(limit),
            cursor=cursor,
        )
        teams = [repo.team_of(i) for i in page.items if repo.is_team(i) and i["org_id"] == org]
        return Paged(teams, page.cursor)

    async def _teams_of(
        self, org_id: str, user_id: str, *, limit: int | None, cursor: str | None
    ) -> Paged[Team]:
        page = await self.store.query(
            repo.TEAMS,
            index="gsi1",
            pk=repo.user_teams_pk(org_id, user_id),
            limit=clamp_limit(limit),
            cursor=cursor,
        )
        ids = [i["team_id"] for i in page.items if i.get("status") == MembershipStatus.ACTIVE.value]
        items: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), MAX_BATCH_GET):
            chunk = ids[start : start + MAX_BATCH_GET]
            for item in await self.store.batch_get(
                repo.TEAMS, [repo.team_key(org_id, t) for t in chunk]
            ):
                items[item["id"]] = item
        teams = [
            repo.team_of(items[t])
            for t in ids
            if t in items and items[t]["status"] == TeamStatus.ACTIVE.value
        ]
        return Paged(teams, page.cursor)

    # ------------------------------------------------------------------ for other areas
    async def active_team(self, org_id: str, team_id: str) -> Team | None:
        """The team if it is active in ``org_id`` (no permission check)."""
        item = await self._item(org_id, team_id)
        if item is None or item["status"] != TeamStatus.ACTIVE.value:
            return None
        return repo.team_of(item)

    async def is_active_member(self, org_id: str, team_id: str, user_id: str) -> bool:
        """Whether ``user_id`` is an active member of the team (no permission check)."""
        return await self._is_member(org_id, team_id, user_id)

    async def active_member_ids(
        self, org_id: str, team_id: str, *, limit: int
    ) -> builtins.list[str]:
        """Up to ``limit`` active members of the team, by user id (no permission check)."""
        found: builtins.list[str] = []
        cursor: str | None = None
        while len(found) < limit:
            page = await self.store.query(
                repo.TEAMS,
                pk=repo.team_pk(org_id),
                sk_prefix=repo.members_prefix(team_id),
                limit=min(MAX_PAGE_SIZE, limit - len(found)),
                cursor=cursor,
            )
            found += [
                i["user_id"] for i in page.items if i.get("status") == MembershipStatus.ACTIVE.value
            ]
            cursor = page.cursor
            if cursor is None:
                break
        return found[:limit]

    async def active_team_ids(self, org_id: str, user_id: str) -> builtins.list[str]:
        """The ids of every team ``user_id`` is an active member of (no permission check)."""
        ids: builtins.list[str] = []
        cursor: str | None = None
        while True:
            page = await self.store.query(
                repo.TEAMS,
                index="gsi1",
                pk=repo.user_teams_pk(org_id, user_id),
                limit=MAX_PAGE_SIZE,
                cursor=cursor,
            )
            ids += [
                i["team_id"] for i in page.items if i.get("status") == MembershipStatus.ACTIVE.value
            ]
            cursor = page.cursor
            if cursor is None:
                return ids

    # ------------------------------------------------------------------ changes
    async def rename(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        team_id: str,
        name: str,
        expected_version: int | None = None,
    ) -> Team:
        await authorize(
            self.store, principal, ctx, Action.TEAM_RENAME, target_type="team", target_id=team_id
        )
        org = principal.org_id
        for _ in range(UNVERSIONED_ATTEMPTS):
            item = await self._active(org, team_id)
            version = check_version(item, expected_version)
            if item["name"] == name:
                return repo.team_of(item)
            now = iso(self.clock())
            try:
                await self.store.transact_write(
                    [
                        repo.rename_op(item, name=name, now=now),
                        self._event(
                            principal,
                            ctx,
                            org,
                            "team.renamed",
                            team_id,
                            changes={"name": {"old": item["name"], "new": name}},
                        ),
                    ]
                )
            except WriteConflict:
                continue
            except TransactionCanceled as exc:
                if expected_version is not None:
                    fresh = await self._visible(org, team_id)
                    raise stale(int(fresh["version"]), expected_version) from exc
                continue
            team = repo.team_of({**item, "name": name, "updated_at": now, "version": version + 1})
            await self._publish(
                org, "team.renamed", team_id=team_id, actor_id=principal.user_id, name=name
            )
            return team
        raise keeps_changing("team")

    async def archive(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        team_id: str,
        expected_version: int | None = None,
    ) -> Team:
        """Archive an active team: read-only from now on, in no one's active teams."""
        await authorize(
            self.store, principal, ctx, Action.TEAM_ARCHIVE, target_type="team", target_id=team_id
        )
        org = principal.org_id
        for _ in range(UNVERSIONED_ATTEMPTS):
            item = await self._visible(org, team_id)
            if item["status"] == TeamStatus.ARCHIVED.value:
                raise Conflict("The team is already archived.", code="already_archived")
            version = check_version(item, expected_version)
            now = iso(self.clock())
            try:
                await self.store.transact_write(
                    [
                        repo.archive_op(item, now=now),
                        self._event(
                            principal,
                            ctx,
                            org,
                            "team.archived",
                            team_id,
                            changes={"status": {"old": "active", "new": "archived"}},
                        ),
                    ]
                )
            except WriteConflict:
                continue
            except TransactionCanceled as exc:
                if expected_version is not None:
                    fresh = await self._visible(org, team_id)
                    raise stale(int(fresh["version"]), expected_version) from exc
                continue
            team = repo.team_of(
                {
                    **item,
                    "status": TeamStatus.ARCHIVED.value,
                    "archived_at": now,
                    "updated_at": now,
                    "version": version + 1,
                }
            )
            await self._publish(org, "team.archived", team_id=team_id, actor_id=principal.user_id)
            return team
        raise keeps_changing("team")

    async def _change_members(
        self,
        principal: Principal,
        ctx: RequestContext,
        item: dict[str, Any],
        *,
        added: Sequence[NewMember] = (),
        removed: Sequence[str] = (),
        reason: str,
    ) -> Team:
        """One transaction: the memberships, the team's count and version, the event.

        Raises :class:`_Raced` if the team or a membership changed since read."""
        org, team_id = item["org_id"], item["id"]
        now = iso(self.clock())
        ops: builtins.list[TransactOp] = [
            repo.team_count_op(item, delta=len(added) - len(removed), now=now)
        ]
        ops += [
            repo.member_add_op(
                repo.membership_item(
                    org_id=org, team_id=team_id, member=m, added_by=principal.user_id, now=now
                )
            )
            for m in added
        ]
        ops += [
            repo.member_removal_op(org, team_id, u, by=principal.user_id, now=now, reason=reason)
            for u in removed
        ]
        details: dict[str, Any] = {"reason": reason}
        if added:
            details["added"] = [{"user_id": m.user_id, "role": m.role.value} for m in added]
        if removed:
            details["removed"] = list(removed)
        ops.append(
            self._event(principal, ctx, org, "team.members_changed", team_id, details=details)
        )
        try:
            await self.store.transact_write(ops)
        except (WriteConflict, TransactionCanceled) as exc:
            raise _Raced from exc
        team = repo.team_of(
            {
                **item,
                "member_count": int(item["member_count"]) + len(added) - len(removed),
                "updated_at": now,
                "version": int(item["version"]) + 1,
            }
        )
        await self._publish(
            org,
            "team.members_changed",
            team_id=team_id,
            actor_id=principal.user_id,
            added=[m.user_id for m in added],
            removed=list(removed),
            member_count=team.member_count,
        )
        return team

    def _check_change_size(self, count: int) -> None:
        if not 1 <= count <= MAX_CHANGE_MEMBERS:
            raise ValidationFailed(
                f"A change names 1..{MAX_CHANGE_MEMBERS} members.",
                code="invalid_member_count",
                details={"max": MAX_CHANGE_MEMBERS},
            )

    async def _memberships(
        self, org_id: str, team_id: str, user_ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        keys = [repo.membership_key(org_id, team_id, u) for u in user_ids]
        items = await self.store.batch_get(repo.TEAMS, keys) if keys else []
        return {i["user_id"]: i for i in items if i.get("type") == "membership"}

    async def add_members(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        team_id: str,
        members: Sequence[NewMember],
    ) -> Team:
        await authorize(
            self.store,
            principal,
            ctx,
            Action.TEAM_MANAGE_MEMBERS,
            target_type="team",
            target_id=team_id,
        )
        self._check_change_size(len(members))
        org = principal.org_id
        item = await self._active(org, team_id)
        await self._check_members(org, [m.user_id for m in members])
        for _ in range(UNVERSIONED_ATTEMPTS):
            existing = await self._memberships(org, team_id, [m.user_id for m in members])
            already = [
                u for u, m in existing.items() if m.get("status") == MembershipStatus.ACTIVE.value
            ]
            if already:
                raise Conflict(
                    "Already a member of the team.",
                    code="already_member",
                    details={"user_ids": already[:_LISTED_IDS]},
                )
            try:
                return await self._change_members(
                    principal, ctx, item, added=members, reason="added"
                )
            except _Raced:
                item = await self._active(org, team_id)
        raise keeps_changing("team")

    async def remove_members(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        team_id: str,
        user_ids: Sequence[str],
    ) -> Team:
        """Take members off the active roster; their memberships stay, marked removed."""
        await authorize(
            self.store,
            principal,
            ctx,
            Action.TEAM_MANAGE_MEMBERS,
            target_type="team",
            target_id=team_id,
        )
        self._check_change_size(len(user_ids))
        dupes = duplicate_ids(user_ids)
        if dupes:
            raise _ids_error("A member is listed more than once.", "duplicate_member", dupes)
        org = principal.org_id
        for _ in range(UNVERSIONED_ATTEMPTS):
            item = await self._active(org, team_id)
            existing = await self._memberships(org, team_id, user_ids)
            missing = [
                u
                for u in user_ids
                if existing.get(u, {}).get("status") != MembershipStatus.ACTIVE.value
            ]
            if missing:
                raise Conflict(
                    "Not a member of the team.",
                    code="not_member",
                    details={"user_ids": missing[:_LISTED_IDS]},
                )
            try:
                return await self._change_members(
                    principal, ctx, item, removed=user_ids, reason="removed"
                )
            except _Raced:
                continue
        raise keeps_changing("team")

    # ------------------------------------------------------------------ identity's hook
    async def user_deactivated(
        self, *, principal: Principal, ctx: RequestContext, user_id: str
    ) -> None:
        """Take a deactivated user off every active team's roster (one audited
        transaction per team; memberships stay, marked removed). Safe to repeat."""
        org = principal.org_id
        cursor = None
        team_ids: builtins.list[str] = []
        while True:
            page = await self.store.query(
                repo.TEAMS,
                index="gsi1",
                pk=repo.user_teams_pk(org, user_id),
                limit=200,
                cursor=cursor,
            )
            team_ids += [
                i["team_id"] for i in page.items if i.get("status") == MembershipStatus.ACTIVE.value
            ]
            cursor = page.cursor
            if cursor is None:
                break
        for team_id in team_ids:
            for _ in range(UNVERSIONED_ATTEMPTS):
                item = await self._item(org, team_id)
                if item is None or item["status"] != TeamStatus.ACTIVE.value:
                    break  # archived teams keep their roster; unfinished ones are swept
                if not await self._is_member(org, team_id, user_id):
                    break
                try:
                    await self._change_members(
                        principal, ctx, item, removed=[user_id], reason="user_deactivated"
                    )
                    break
                except _Raced:
                    continue
