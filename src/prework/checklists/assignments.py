"""Assignments: a published template version given to a user or a team for a job.

Every change is one transaction with its audit event, conditioned on the
assignment's ``version`` (optimistic locking: a change that names the version
it was based on gets 409 ``stale_version`` if it moved; one that names none is
planned again on a fresh read). Starting fixes the crew (a team's later roster
changes do not change who signs); amending it afterwards clears every sign-off.
Lists are read from an index (docs/data-model.md) in due-time order, other
filters applied while reading.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from prework.authz.authorize import authorize
from prework.authz.matrix import is_allowed
from prework.checklists import work_repository as repo
from prework.checklists._work import Raced, WorkBase
from prework.checklists.permissions import ChecklistAction as Action
from prework.checklists.workflow import (
    MAX_CREW,
    OPEN,
    Assignee,
    Assignment,
    AssignmentState,
    SubmissionStatus,
    Transition,
    check_transition,
)
from prework.core.clock import iso, iso_of
from prework.core.ids import new_id
from prework.core.paging import Paged, clamp_limit, decode_cursor, encode_cursor
from prework.core.principal import Principal, RequestContext
from prework.core.versioned import UNVERSIONED_ATTEMPTS, check_version, keeps_changing
from prework.errors import Conflict, ValidationFailed
from prework.identity.models import UserStatus
from prework.identity.users import find_members
from prework.store.base import (
    MAX_BATCH_GET,
    MAX_TRANSACT_ITEMS,
    All,
    AttrEquals,
    Delete,
    Item,
    ItemExists,
    ItemNotExists,
    Put,
    TransactOp,
    Update,
    UpdateSpec,
    version_equals,
)

__all__ = ["EDITABLE", "AssignmentFilter", "AssignmentService", "Scope"]

# the job details a PATCH may change (the assignee only before the start)
EDITABLE: Final = frozenset(
    {"title", "job_ref", "location", "coordinates", "planned_start", "due_at", "assignee"}
)
# a listing reads at most this many index entries per request before it answers with
# what it found and a cursor (so a filter that matches little never reads a whole index)
_READ_BUDGET: Final = 1_000
_BATCH: Final = 100


class Scope:
    MINE = "mine"
    ORG = "org"


@dataclass(frozen=True, slots=True)
class AssignmentFilter:
    scope: str | None = None  # None: org for those who read every assignment, else mine
    team_id: str | None = None
    states: frozenset[AssignmentState] = frozenset()
    template_id: str | None = None
    job_ref: str | None = None
    due_from: datetime | None = None
    due_to: datetime | None = None

    def keeps(self, item: Mapping[str, Any]) -> bool:
        if self.states and AssignmentState(item["state"]) not in self.states:
            return False
        if self.template_id is not None and item["template_id"] != self.template_id:
            return False
        return self.job_ref is None or item["job_ref"] == self.job_ref


class _CrewStale(Exception):
    """The crew was computed for an assignee the assignment no longer has."""


@dataclass
class _Source:
    """One index partition read in sort-key order, a batch at a time."""

    index: str
    pk: str
    buffer: list[tuple[str, Item]] = field(default_factory=list)
    cursor: str | None = None
    done: bool = False
    fills: int = 0


def _aware(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValidationFailed("Times carry a time zone.", code="invalid_time")
    try:
        return iso_of(value)
    except (OverflowError, ValueError) as exc:  # in UTC, before year 1 or after 9999
        raise ValidationFailed("The time is out of range.", code="invalid_time") from exc


def _cursor_after(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    data = decode_cursor(cursor)
    after = data.get("after")
    if not isinstance(after, str) or not 0 < len(after) <= 200:
        raise ValidationFailed("The cursor is not valid.", code="invalid_cursor")
    return after


def _crew_ops(
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


class AssignmentService(WorkBase):
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
        elif await self.teams.active_team(org_id, assignee.id) is None:
            raise ValidationFailed("No such active team.", code="unknown_team")

    async def _crew_of(self, org_id: str, assignee: Assignee) -> list[str]:
        """Who signs, fixed at the start: the assignee, or the team's active members."""
        if assignee.type == "user":
            await self._assignee(org_id, assignee)
            return [assignee.id]
        if await self.teams.active_team(org_id, assignee.id) is None:
            raise Conflict("The assigned team is archived.", code="team_archived")
        crew = await self.teams.active_member_ids(org_id, assignee.id, limit=MAX_CREW + 1)
        if not crew:
            raise Conflict("The assigned team has no active members.", code="empty_crew")
        if len(crew) > MAX_CREW:
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

    # ------------------------------------------------------------------ create
    async def create(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        template_id: str,
        template_version: int | None,
        assignee: Assignee,
        title: str | None,
        job_ref: str,
        location: str | None,
        coordinates: Mapping[str, float] | None,
        planned_start: datetime,
        due_at: datetime,
    ) -> Assignment:
        org = principal.org_id
        await authorize(self.store, principal, ctx, Action.ASSIGNMENT_CREATE)
        version = await self.templates.assignable_version(org, template_id, template_version)
        await self._assignee(org, assignee)
        assignment_id = new_id()
        now = self.now()
        item = repo.assignment_item(
            org_id=org,
            assignment_id=assignment_id,
            template_id=template_id,
            template_version=version.number,
            title=title or version.name,
            assignee=assignee,
            job_ref=job_ref,
            location=location,
            coordinates=coordinates,
            planned_start=_aware(planned_start),
            due_at=_aware(due_at),
            created_by=principal.user_id,
            now=now,
        )
        await self.store.transact_write(
            [
                Put(repo.ASSIGNMENTS, item, condition=ItemNotExists()),
                Put(repo.ASSIGNMENTS, repo.doc_item(org, assignment_id, now=now), ItemNotExists()),
                Put(repo.ASSIGNMENTS, repo.watch_item(org, assignment_id, item["due_at"])),
                self._event(
                    principal,
                    ctx,
                    org,
                    "assignment.created",
                    assignment_id,
                    details={
                        "template_id": template_id,
                        "template_version": version.number,
                        "assignee": {"type": assignee.type, "id": assignee.id},
                        "job_ref": job_ref,
                        "due_at": item["due_at"],
                    },
                ),
            ]
        )
        await self._announce(
            org,
            "assignment.created",
            assignment_id=assignment_id,
            assignee={"type": assignee.type, "id": assignee.id},
            due_at=item["due_at"],
        )
        return repo.assignment_of(item)

    # ------------------------------------------------------------------ reads
    async def get(
        self, *, principal: Principal, ctx: RequestContext, assignment_id: str
    ) -> Assignment:
        return repo.assignment_of(await self._readable(principal, ctx, assignment_id))

    async def list(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        where: AssignmentFilter,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Paged[Assignment]:
        """Assignments by due time (then id): the organization's, a team's, or the
        caller's own (assigned to them or their teams, or with them on the crew)."""
        org, user = principal.org_id, principal.user_id
        wanted = clamp_limit(limit)
        after = _cursor_after(cursor)
        reads_all = is_allowed(principal.role, Action.ASSIGNMENT_READ)
        scope = where.scope or (Scope.ORG if reads_all else Scope.MINE)
        keep: Callable[[Item], bool] = where.keeps
        covered: frozenset[str] = frozenset()
        if scope == Scope.ORG:
            await authorize(self.store, principal, ctx, Action.ASSIGNMENT_READ)
            if where.team_id is not None:
                sources = [_Source("gsi1", repo.assignee_pk(org, where.team_id))]
            else:
                sources = [_Source("gsi2", repo.org_listing_pk(org))]
        else:
            await authorize(self.store, principal, ctx, Action.ASSIGNMENT_READ_OWN)
            teams = await self.teams.active_team_ids(org, user)
            if where.team_id is not None:
                teams = [t for t in teams if t == where.team_id]
                sources = [_Source("gsi1", repo.assignee_pk(org, t)) for t in teams]
            else:
                sources = [_Source("gsi1", repo.assignee_pk(org, a)) for a in (user, *teams)]
                covered = frozenset(teams)  # their crew entries: read in the team's own

            def keep(item: Item) -> bool:
                crew = item.get("crew")
                mine = user in crew if crew is not None else True  # not started: assignee
                return mine and where.keeps(item)

        lo = _aware(where.due_from) if where.due_from is not None else None
        hi = f"{_aware(where.due_to)}#~" if where.due_to is not None else None
        items, next_after = await self._merged(
            sources,
            lo=lo,
            hi=hi,
            after=after,
            want=wanted,
            keep=keep,
            org_id=org,
            covered=covered,
        )
        return Paged(
            [repo.assignment_of(i) for i in items],
            encode_cursor({"after": next_after}) if next_after is not None else None,
        )

    async def _fill(
        self,
        source: _Source,
        org_id: str,
        lo: str | None,
        hi: str | None,
        *,
        size: int,
        covered: frozenset[str],
    ) -> None:
        """Read the next ``size`` entries of ``source`` into its buffer as (sort key,
        assignment), crew entries resolved to their assignments, except those of an
        assignee in ``covered`` (another source of this listing reads those)."""
        page = await self.store.query(
            repo.ASSIGNMENTS,
            index=source.index,
            pk=source.pk,
            sk_gte=lo,
            sk_lte=hi,
            limit=max(1, min(_BATCH, size)),
            cursor=source.cursor,
        )
        source.cursor = page.cursor
        source.done = page.cursor is None
        sk_attr = f"{source.index}sk"
        rows = [
            i
            for i in page.items
            if i.get("type") != "crew_entry" or i.get("assignee_id") not in covered
        ]
        ids = sorted({i["assignment_id"] for i in rows if i.get("type") == "crew_entry"})
        resolved: dict[str, Item] = {}
        for start in range(0, len(ids), MAX_BATCH_GET):
            keys = [repo.assignment_key(org_id, a) for a in ids[start : start + MAX_BATCH_GET]]
            for found in await self.store.batch_get(repo.ASSIGNMENTS, keys):
                resolved[found["id"]] = found
        for raw in rows:
            item = resolved.get(raw["assignment_id"]) if raw.get("type") == "crew_entry" else raw
            if repo.is_assignment(item, org_id):
                assert item is not None
                source.buffer.append((str(raw[sk_attr]), item))

    async def _merged(
        self,
        sources: builtins.list[_Source],
        *,
        lo: str | None,
        hi: str | None,
        after: str | None,
        want: int,
        keep: Callable[[Item], bool],
        org_id: str,
        covered: frozenset[str] = frozenset(),
    ) -> tuple[builtins.list[Item], str | None]:
        """Up to ``want`` kept assignments from the sources, merged by sort key, after
        ``after``; and the sort key to continue after (None: nothing more)."""
        start = max(lo, after) if lo is not None and after is not None else (lo or after)
        out: builtins.list[Item] = []
        seen: set[str] = set()
        examined = 0
        last: str | None = None
        while True:
            for source in sources:
                # a source takes part in the merge with its next entry, or not at all
                while not source.buffer and not source.done:
                    # a first read shares the page among the sources; a later one reads
                    # what the page still needs
                    rest = want - len(out) + 1
                    size = rest if source.fills else max(8, rest // len(sources) + 1)
                    source.fills += 1
                    await self._fill(source, org_id, start, hi, size=size, covered=covered)
                    source.buffer = [
                        (sk, i) for sk, i in source.buffer if after is None or sk > after
                    ]
            live = [s for s in sources if s.buffer]
            if not live:
                return out, None
            head = min(live, key=lambda s: s.buffer[0][0])
            sk, item = head.buffer.pop(0)
            examined += 1
            last = sk
            if item["id"] not in seen and keep(item):
                seen.add(item["id"])
                out.append(item)
            if len(out) >= want or examined >= _READ_BUDGET:
                more = any(s.buffer or not s.done for s in sources)
                return out, (last if more else None)

    # ------------------------------------------------------------------ changes
    async def _change(
        self,
        principal: Principal,
        ctx: RequestContext,
        action: Action,
        assignment_id: str,
        expected_version: int | None,
        plan: Callable[[Item, int], tuple[builtins.list[TransactOp], Item]],
        *,
        authorized: bool = False,
    ) -> Assignment:
        """After ``action`` is allowed: read, check the version, ``plan(item, version)``
        -> (ops, new item), write them under the version condition; planned again on a
        fresh read when another change landed."""
        org = principal.org_id
        if not authorized:
            await self._authorized(principal, ctx, action, assignment_id)

        async def attempt() -> Assignment:
            item = await self._item(org, assignment_id)
            version = check_version(item, expected_version)
            ops, new = plan(item, version)
            guard = Update(
                repo.ASSIGNMENTS,
                repo.assignment_key(org, assignment_id),
                UpdateSpec(set={k: v for k, v in new.items() if k not in ("pk", "sk")}),
                condition=All(ItemExists(), version_equals(version)),
            )
            await self._write([guard, *ops])
            return repo.assignment_of(new)

        return await self._retrying(attempt, "The assignment")

    async def update(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        assignment_id: str,
        changes: Mapping[str, Any],
        expected_version: int | None,
    ) -> Assignment:
        """Change job details (and, before the start, the assignee)."""
        org = principal.org_id
        fields = dict(changes)
        for name in ("planned_start", "due_at"):
            if name in fields:
                fields[name] = _aware(fields[name])
        assignee = fields.pop("assignee", None)
        if not fields and assignee is None:  # nothing to change: nothing written
            item = await self._authorized(principal, ctx, Action.ASSIGNMENT_UPDATE, assignment_id)
            check_version(item, expected_version)
            return repo.assignment_of(item)
        # who may, and on what, before the new assignee is judged (403/404 first)
        await self._authorized(principal, ctx, Action.ASSIGNMENT_UPDATE, assignment_id)
        if assignee is not None:
            await self._assignee(org, assignee)
        now = self.now()

        def plan(item: Item, version: int) -> tuple[builtins.list[TransactOp], Item]:
            state = AssignmentState(item["state"])
            check_transition(state, Transition.EDIT)
            if assignee is not None and state is not AssignmentState.ASSIGNED:
                raise Conflict(
                    "The assignee changes only before the start; amend the crew instead.",
                    code="invalid_transition",
                    details={"state": state.value, "action": "reassign"},
                )
            new = {**item, **fields, "updated_at": now, "version": version + 1}
            old_assignee = Assignee(item["assignee_type"], item["assignee_id"])
            if assignee is not None:
                new["assignee_type"], new["assignee_id"] = assignee.type, assignee.id
            new_assignee = Assignee(new["assignee_type"], new["assignee_id"])
            new.update(repo.listing_attrs(org, new_assignee.id, new["due_at"], item["id"]))
            changed = {
                k: {"old": item.get(k), "new": new.get(k)}
                for k in (*fields, "assignee_type", "assignee_id")
                if item.get(k) != new.get(k)
            }
            ops: builtins.list[TransactOp] = []
            if new["due_at"] != item["due_at"]:
                crew = item.get("crew") or []
                ops += [
                    Update(
                        repo.ASSIGNMENTS,
                        repo.crew_key(org, item["id"], u),
                        UpdateSpec(set={"gsi1sk": repo.listing_sk(new["due_at"], item["id"])}),
                        condition=ItemExists(),
                    )
                    for u in sorted(
                        set(crew) - ({old_assignee.id} if old_assignee.type == "user" else set())
                    )
                ]
                ops.append(
                    Delete(repo.ASSIGNMENTS, repo.watch_key(org, item["id"], item["due_at"]))
                )
                ops.append(Put(repo.ASSIGNMENTS, repo.watch_item(org, item["id"], new["due_at"])))
                new["overdue_at"] = None
            ops.append(
                self._event(
                    principal,
                    ctx,
                    org,
                    "assignment.updated",
                    item["id"],
                    changes={**changed, "version": {"old": version, "new": version + 1}},
                )
            )
            return ops, new

        result = await self._change(
            principal,
            ctx,
            Action.ASSIGNMENT_UPDATE,
            assignment_id,
            expected_version,
            plan,
            authorized=True,
        )
        await self._announce(org, "assignment.updated", assignment_id=assignment_id)
        return result

    async def start(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        assignment_id: str,
        expected_version: int | None,
    ) -> Assignment:
        """Begin the work: fixes the crew on the first start; a rejected assignment is
        started again with the same crew."""
        org = principal.org_id
        item = await self._authorized(principal, ctx, Action.ASSIGNMENT_START, assignment_id)
        for _ in range(UNVERSIONED_ATTEMPTS):
            try:
                result = await self._start(principal, ctx, item, expected_version)
                break
            except _CrewStale:  # reassigned meanwhile: the crew is the new assignee's
                item = await self._item(org, assignment_id)
        else:
            raise keeps_changing("The assignment")
        await self._announce(
            org, "assignment.started", assignment_id=assignment_id, crew=list(result.crew or ())
        )
        return result

    async def _start(
        self,
        principal: Principal,
        ctx: RequestContext,
        item: Item,
        expected_version: int | None,
    ) -> Assignment:
        org = principal.org_id
        assignment = repo.assignment_of(item)
        crew: builtins.list[str] | None = None
        crew_of = (item["assignee_type"], item["assignee_id"])
        if assignment.crew is None and assignment.state is AssignmentState.ASSIGNED:
            crew = await self._crew_of(org, assignment.assignee)
        now = self.now()

        def plan(item: Item, version: int) -> tuple[builtins.list[TransactOp], Item]:
            state = AssignmentState(item["state"])
            check_transition(state, Transition.START)
            new = {
                **item,
                "state": AssignmentState.IN_PROGRESS.value,
                "updated_at": now,
                "version": version + 1,
            }
            ops: builtins.list[TransactOp] = []
            fixed = item.get("crew")
            if fixed is None:
                if crew is None or (item["assignee_type"], item["assignee_id"]) != crew_of:
                    raise _CrewStale()
                new["crew"], new["started_at"] = list(crew), now
                ops += _crew_ops(
                    org,
                    item["id"],
                    Assignee(item["assignee_type"], item["assignee_id"]),
                    [],
                    crew,
                    item["due_at"],
                )
            ops.append(
                self._event(
                    principal,
                    ctx,
                    org,
                    "assignment.started",
                    item["id"],
                    changes={
                        "state": {"old": state.value, "new": new["state"]},
                        "version": {"old": version, "new": version + 1},
                    },
                    details={"crew": new["crew"]},
                )
            )
            return ops, new

        return await self._change(
            principal,
            ctx,
            Action.ASSIGNMENT_START,
            item["id"],
            expected_version,
            plan,
            authorized=True,
        )

    async def cancel(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        assignment_id: str,
        reason: str | None,
        expected_version: int | None,
    ) -> Assignment:
        org = principal.org_id
        now = self.now()

        def plan(item: Item, version: int) -> tuple[builtins.list[TransactOp], Item]:
            state = AssignmentState(item["state"])
            check_transition(state, Transition.CANCEL)
            new = {
                **item,
                "state": AssignmentState.CANCELLED.value,
                "updated_at": now,
                "cancelled_at": now,
                "cancelled_by": principal.user_id,
                "cancel_reason": reason,
                "version": version + 1,
            }
            ops: builtins.list[TransactOp] = [
                Delete(repo.ASSIGNMENTS, repo.watch_key(org, item["id"], item["due_at"]))
            ]
            pending = item.get("latest_submission_id")
            if state is AssignmentState.SUBMITTED and pending:
                ops.append(
                    Update(
                        repo.SUBMISSIONS,
                        repo.submission_key(org, pending),
                        UpdateSpec(
                            set={"status": SubmissionStatus.SUPERSEDED.value},
                            remove=("gsi2pk", "gsi2sk"),
                        ),
                        condition=AttrEquals("status", SubmissionStatus.PENDING.value),
                    )
                )
            ops.append(
                self._event(
                    principal,
                    ctx,
                    org,
                    "assignment.cancelled",
                    item["id"],
                    changes={
                        "state": {"old": state.value, "new": new["state"]},
                        "version": {"old": version, "new": version + 1},
                    },
                    details={"reason": reason},
                )
            )
            return ops, new

        result = await self._change(
            principal, ctx, Action.ASSIGNMENT_UPDATE, assignment_id, expected_version, plan
        )
        await self._announce(org, "assignment.cancelled", assignment_id=assignment_id)
        await self._announce(org, "clearance.changed", assignment_id=assignment_id, cleared=False)
        return result

    async def amend_crew(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        assignment_id: str,
        user_ids: Sequence[str],
        reason: str | None,
        expected_version: int | None,
    ) -> Assignment:
        """Replace the fixed crew of a started assignment; every sign-off is cleared."""
        org = principal.org_id
        # who may, and on what, before the crew is judged: else a caller who may not
        # (or another organization's) gets 422 naming the members instead of 403/404
        await self._authorized(principal, ctx, Action.ASSIGNMENT_UPDATE, assignment_id)
        await self._check_crew(org, user_ids)
        now = self.now()

        def plan(item: Item, version: int) -> tuple[builtins.list[TransactOp], Item]:
            state = AssignmentState(item["state"])
            check_transition(state, Transition.AMEND_CREW)
            old = list(item.get("crew") or [])
            assignee = Assignee(item["assignee_type"], item["assignee_id"])
            ops = _crew_ops(org, item["id"], assignee, old, user_ids, item["due_at"])
            if len(ops) + 3 > MAX_TRANSACT_ITEMS:
                raise ValidationFailed(
                    f"One amendment adds and removes at most {MAX_TRANSACT_ITEMS - 3} members "
                    "in all; amend in two steps.",
                    code="crew_change_too_large",
                )
            ops.append(
                Update(
                    repo.ASSIGNMENTS,
                    repo.doc_key(org, item["id"]),
                    UpdateSpec(
                        set={"signoffs": {}, "updated_at": now, "updated_by": principal.user_id},
                        add={"version": 1},
                    ),
                    condition=ItemExists(),
                )
            )
            new = {**item, "crew": list(user_ids), "updated_at": now, "version": version + 1}
            ops.append(
                self._event(
                    principal,
                    ctx,
                    org,
                    "assignment.crew_amended",
                    item["id"],
                    changes={
                        "crew": {"old": old, "new": list(user_ids)},
                        "version": {"old": version, "new": version + 1},
                    },
                    details={"reason": reason, "signoffs_cleared": True},
                )
            )
            return ops, new

        result = await self._change(
            principal,
            ctx,
            Action.ASSIGNMENT_UPDATE,
            assignment_id,
            expected_version,
            plan,
            authorized=True,
        )
        await self._announce(
            org, "assignment.crew_amended", assignment_id=assignment_id, crew=list(user_ids)
        )
        return result

    # ------------------------------------------------------------------ certifications
    async def certifications_changed(self, org_id: str, user_id: str) -> None:
        """A crew member's certifications changed: announce ``clearance.changed`` for
        each approved, not voided assignment they are on (its clearance is computed
        when asked, so only the notice is due)."""
        teams = await self.teams.active_team_ids(org_id, user_id)
        sources = [_Source("gsi1", repo.assignee_pk(org_id, a)) for a in (user_id, *teams)]

        def approved_with_me(item: Item) -> bool:
            return (
                item.get("state") == AssignmentState.APPROVED.value
                and user_id in (item.get("crew") or ())
                and item.get("voided") is None
            )

        # a clearance holds at most 30 days from the planned date: older jobs are done
        lo = iso(self.clock() - 31 * 86_400)
        after: str | None = None
        while True:
            for source in sources:
                source.buffer, source.cursor, source.done, source.fills = [], None, False, 0
            items, after = await self._merged(
                sources,
                lo=lo,
                hi=None,
                after=after,
                want=100,
                keep=approved_with_me,
                org_id=org_id,
                covered=frozenset(teams),
            )
            for item in items:
                await self._announce(
                    org_id,
                    "clearance.changed",
                    assignment_id=item["id"],
                    cleared=None,
                    reason="certifications",
                    user_id=user_id,
                )
            if after is None:
                return

    # ------------------------------------------------------------------ overdue
    async def sweep_overdue(self, *, lookback_days: int = 30, limit: int = 500) -> int:
        """Mark the open assignments whose due time has passed as overdue (once each,
        audited as the system, announced); returns how many. Safe to run on every node
        at once: each is one conditional transaction."""
        now_ts = self.clock()
        now = iso(now_ts)
        today = datetime.fromtimestamp(now_ts, UTC).date()
        marked = 0
        for back in range(lookback_days, -1, -1):
            day = (today - timedelta(days=back)).isoformat()
            page = await self.store.query(
                repo.ASSIGNMENTS, pk=repo.watch_pk(day), sk_lte=f"{now}#~", limit=limit
            )
            for watch in page.items:
                if watch.get("due_at", "~") > now:
                    continue
                if await self._mark_overdue(watch, now):
                    marked += 1
        return marked

    async def _mark_overdue(self, watch: Item, now: str) -> bool:
        org, assignment_id = watch["org_id"], watch["assignment_id"]
        item = await self.store.get(repo.ASSIGNMENTS, repo.assignment_key(org, assignment_id))
        drop = Delete(repo.ASSIGNMENTS, {"pk": watch["pk"], "sk": watch["sk"]})
        if (
            not repo.is_assignment(item, org)
            or item is None
            or AssignmentState(item["state"]) not in OPEN
            or item["due_at"] != watch["due_at"]
            or item.get("overdue_at") is not None
        ):
            await self.store.delete(repo.ASSIGNMENTS, drop.key)
            return False
        ops: builtins.list[TransactOp] = [
            Update(
                repo.ASSIGNMENTS,
                repo.assignment_key(org, assignment_id),
                UpdateSpec(set={"overdue_at": now, "version": int(item["version"]) + 1}),
                condition=All(
                    version_equals(int(item["version"])), AttrEquals("due_at", item["due_at"])
                ),
            ),
            drop,
            self._event(
                None,
                RequestContext(),
                org,
                "assignment.overdue",
                assignment_id,
                changes={"version": {"old": int(item["version"]), "new": int(item["version"]) + 1}},
                details={"due_at": item["due_at"], "state": item["state"]},
            ),
        ]
        try:
            await self._write(ops)
        except Raced:
            return False  # changed meanwhile: the next sweep judges it again
        await self._announce(
            org, "assignment.overdue", assignment_id=assignment_id, due_at=item["due_at"]
        )
        return True
