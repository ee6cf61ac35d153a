"""Assignments: a published template version given to a user or a team for a job.

Every change is one transaction with its audit event, conditioned on the
assignment's ``version`` (optimistic locking: a change that names the version
it was based on gets 409 ``stale_version`` if it moved; one that names none is
planned again on a fresh read). Starting fixes the crew (a team's later roster
changes do not change who signs); amending it afterwards clears every sign-off.
Listing is :mod:`prework.checklists.listing`; the overdue check
:mod:`prework.checklists.overdue`; who is on a crew :mod:`prework.checklists.crew`.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import structlog

from prework.authz.authorize import authorize
from prework.checklists import work_repository as repo
from prework.checklists._work import aware
from prework.checklists.crew import CrewRules, CrewStale, crew_ops
from prework.checklists.documents import clearing_ops
from prework.checklists.listing import AssignmentFilter, AssignmentListing, Scope
from prework.checklists.overdue import OverdueCheck
from prework.checklists.permissions import ChecklistAction as Action
from prework.checklists.workflow import (
    Assignee,
    Assignment,
    AssignmentState,
    SubmissionStatus,
    Transition,
    check_transition,
)
from prework.core.ids import new_id
from prework.core.principal import Principal, RequestContext
from prework.core.versioned import UNVERSIONED_ATTEMPTS, check_version, keeps_changing
from prework.errors import Conflict, ValidationFailed
from prework.store.base import (
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
from prework.sync.oplog import LoggedOp, OpKind, publish_ops

__all__ = [
    "EDITABLE",
    "AssignmentFilter",
    "AssignmentService",
    "Scope",
]  # (listing's two re-exported)

log = structlog.get_logger("prework.checklists.assignments")

# the job details a PATCH may change (the assignee only before the start)
EDITABLE: Final = frozenset(
    {"title", "job_ref", "location", "coordinates", "planned_start", "due_at", "assignee"}
)


class AssignmentService(AssignmentListing, OverdueCheck, CrewRules):
    """Create, read, list, change, start, cancel and amend; the overdue check."""

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
            planned_start=aware(planned_start),
            due_at=aware(due_at),
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
        doc_plan: Callable[[Item], tuple[builtins.list[TransactOp], builtins.list[LoggedOp]]]
        | None = None,
    ) -> Assignment:
        """After ``action`` is allowed: read, check the version, ``plan(item, version)``
        -> (ops, new item), write them under the version condition; planned again on a
        fresh read when another change landed. ``doc_plan(answers document)`` adds the
        document's change and its logged operations (published after the commit)."""
        org = principal.org_id
        if not authorized:
            await self._authorized(principal, ctx, action, assignment_id)

        async def attempt() -> tuple[Assignment, builtins.list[LoggedOp]]:
            item = await self._item(org, assignment_id)
            version = check_version(item, expected_version)
            ops, new = plan(item, version)
            logged: builtins.list[LoggedOp] = []
            if doc_plan is not None:
                doc_ops, logged = doc_plan(await self._doc(org, assignment_id))
                ops = [*ops, *doc_ops]
            guard = Update(
                repo.ASSIGNMENTS,
                repo.assignment_key(org, assignment_id),
                UpdateSpec(set={k: v for k, v in new.items() if k not in ("pk", "sk")}),
                condition=All(ItemExists(), version_equals(version)),
            )
            await self._write([guard, *ops])
            return repo.assignment_of(new), logged

        result, logged = await self._retrying(attempt, "assignment")
        await publish_ops(self.pubsub, org, assignment_id, logged, log)
        return result

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
                fields[name] = aware(fields[name])
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
            except CrewStale:  # reassigned meanwhile: the crew is the new assignee's
                item = await self._item(org, assignment_id)
        else:
            raise keeps_changing("assignment")
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
                    raise CrewStale()
                new["crew"], new["started_at"] = list(crew), now
                ops += crew_ops(
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
            ops = crew_ops(org, item["id"], assignee, old, user_ids, item["due_at"])
            # with the assignment, the audit event, the document and its logged operation
            if len(ops) + 4 > MAX_TRANSACT_ITEMS:
                raise ValidationFailed(
                    f"One amendment adds and removes at most {MAX_TRANSACT_ITEMS - 4} members "
                    "in all; amend in two steps.",
                    code="crew_change_too_large",
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
            doc_plan=lambda doc: clearing_ops(
                org, doc, kind=OpKind.CREW, by=principal.user_id, now=self.clock()
            ),
        )
        await self._announce(
            org, "assignment.crew_amended", assignment_id=assignment_id, crew=list(user_ids)
        )
        return result
