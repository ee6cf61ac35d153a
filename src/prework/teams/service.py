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
from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from prework.authz.authorize import authorize
from prework.authz.matrix import is_allowed
from prework.core import audit
from prework.core.audit import SYSTEM, Actor
from prework.core.clock import Clock, iso, system_clock
from prework.core.ids import derived_id, new_id
from prework.core.paging import Paged, clamp_limit
from prework.core.principal import Principal, RequestContext
from prework.core.versioned import UNVERSIONED_ATTEMPTS, check_version, keeps_changing, stale
from prework.errors import (
    Conflict,
    NotFound,
    PreworkError,
    TransactionCanceled,
    ValidationFailed,
    WriteConflict,
)
from prework.identity.models import UserStatus
from prework.identity.users import find_members
from prework.pubsub.base import PubSub, org_topic
from prework.store.base import MAX_BATCH_GET, Store, TransactOp
from prework.teams import repository as repo
from prework.teams.models import (
    MAX_CHANGE_MEMBERS,
    MAX_CREATE_MEMBERS,
    Membership,
    MembershipStatus,
    NewMember,
    Team,
    TeamStatus,
    creation_digest,
    duplicate_ids,
)
from prework.teams.permissions import TeamAction as Action

__all__ = ["ABANDON_AFTER_SECONDS", "TeamService"]

log = structlog.get_logger("prework.teams")

# a creation unfinished this long after it started is abandoned (the sweeper removes it)
ABANDON_AFTER_SECONDS = 15 * 60
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


class TeamService:
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
