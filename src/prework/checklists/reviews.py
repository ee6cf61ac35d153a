"""Submissions, their review, the review queue and the pre-work clearance.

A review is written once per submission version (``ItemNotExists``: of two
reviewers at once, one wins; the other gets 409 ``already_reviewed``), only on
the assignment's latest version while it awaits review, and never by a member
of the crew (403 ``own_work``). Rejecting moves the assignment to ``rejected``
and clears the sign-offs (the crew edits, signs again and resubmits as version
n+1); approving moves it to ``approved``.

The clearance is computed when asked: whether work may start, and if not every
reason (:func:`prework.checklists.answers.clearance_reasons`), from the
assignment, its latest approved submission, the crew's certifications (identity's
profiles) on the planned date in the organization's time zone, and the
template's validity window. Voiding it (stop work) is final for the assignment.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from prework.authz.authorize import audit_denial, authorize
from prework.authz.matrix import is_allowed
from prework.checklists import work_repository as repo
from prework.checklists._work import WorkBase
from prework.checklists.answers import diff_answers
from prework.checklists.clearance import Reason, clearance_reasons, planned_date_in
from prework.checklists.documents import clearing_ops
from prework.checklists.permissions import ChecklistAction as Action
from prework.checklists.workflow import (
    Assignment,
    AssignmentState,
    Decision,
    Submission,
    SubmissionStatus,
    Transition,
    check_transition,
)
from prework.core.paging import Paged, clamp_limit
from prework.core.principal import Principal, RequestContext
from prework.core.versioned import check_version
from prework.errors import Conflict, Forbidden, NotFound, ValidationFailed
from prework.store.base import (
    All,
    AttrEquals,
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

__all__ = ["Clearance", "ReviewService"]

log = structlog.get_logger("prework.checklists.reviews")

_SUBMISSION = "submission"


def _no_submission() -> NotFound:
    return NotFound("No such submission.", code="not_found")


@dataclass(frozen=True, slots=True)
class Clearance:
    assignment_id: str
    cleared: bool
    state: AssignmentState
    submission_id: str | None
    planned_date: str
    valid_from: str
    valid_until: str
    reasons: tuple[Reason, ...]
    voided: Mapping[str, Any] | None
    checked_at: str


class ReviewService(WorkBase):
    # ------------------------------------------------------------------ reads
    async def _submission(self, org_id: str, submission_id: str) -> Item:
        item = await self.store.get(repo.SUBMISSIONS, repo.submission_key(org_id, submission_id))
        if not repo.is_submission(item, org_id):
            raise _no_submission()
        assert item is not None
        return item

    async def _review_of(self, org_id: str, submission_id: str) -> Item | None:
        return await self.store.get(repo.SUBMISSIONS, repo.review_key(org_id, submission_id))

    async def _by_number(self, org_id: str, assignment_id: str, number: int) -> Item | None:
        page = await self.store.query(
            repo.SUBMISSIONS,
            index="gsi1",
            pk=repo.submissions_pk(org_id, assignment_id),
            sk_gte=f"{number:06d}",
            sk_lte=f"{number:06d}",
            limit=1,
        )
        return page.items[0] if page.items else None

    async def list(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        assignment_id: str,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Paged[Submission]:
        """An assignment's submission versions, oldest first (answers included)."""
        org = principal.org_id
        await self._readable(principal, ctx, assignment_id)
        page = await self.store.query(
            repo.SUBMISSIONS,
            index="gsi1",
            pk=repo.submissions_pk(org, assignment_id),
            limit=clamp_limit(limit),
            cursor=cursor,
        )
        items = [i for i in page.items if repo.is_submission(i, org)]
        reviews = {
            r["submission_id"]: r
            for r in (
                await self.store.batch_get(
                    repo.SUBMISSIONS, [repo.review_key(org, i["id"]) for i in items]
                )
                if items
                else []
            )
        }
        return Paged([repo.submission_of(i, reviews.get(i["id"])) for i in items], page.cursor)

    async def get(
        self, *, principal: Principal, ctx: RequestContext, submission_id: str
    ) -> tuple[Submission, dict[str, builtins.list[str]] | None]:
        """A submission with its review, and what changed from the version before it
        (None for the first)."""
        org = principal.org_id
        target = {"target_type": _SUBMISSION, "target_id": submission_id}
        if is_allowed(principal.role, Action.ASSIGNMENT_READ):
            await authorize(self.store, principal, ctx, Action.ASSIGNMENT_READ, **target)
            item = await self._submission(org, submission_id)
        else:
            await authorize(self.store, principal, ctx, Action.ASSIGNMENT_READ_OWN, **target)
            item = await self._submission(org, submission_id)
            assignment = repo.assignment_of(await self._item(org, item["assignment_id"]))
            if not await self.may_see(principal, assignment):
                raise _no_submission()
        submission = repo.submission_of(item, await self._review_of(org, submission_id))
        changes = None
        if submission.number > 1:
            previous = await self._by_number(org, submission.assignment_id, submission.number - 1)
            if previous is not None:
                changes = diff_answers(previous.get("answers") or {}, submission.answers)
        return submission, changes

    async def queue(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Paged[Submission]:
        """Submissions awaiting review by due time, without those whose crew the
        caller is on (nobody reviews their own work)."""
        org, user = principal.org_id, principal.user_id
        await authorize(self.store, principal, ctx, Action.REVIEW_QUEUE)
        wanted = clamp_limit(limit)
        found: builtins.list[Submission] = []
        read = 0
        while True:
            page = await self.store.query(
                repo.SUBMISSIONS,
                index="gsi2",
                pk=repo.queue_pk(org),
                # never more than the page needs: the next page goes on from the cursor
                limit=wanted - len(found),
                cursor=cursor,
            )
            read += len(page.items)
            found += [
                repo.submission_of(i)
                for i in page.items
                if repo.is_submission(i, org)
                and i.get("status") == SubmissionStatus.PENDING.value
                and user not in (i.get("crew") or ())
            ]
            cursor = page.cursor
            if cursor is None or len(found) >= wanted or read >= 1_000:
                return Paged(found, cursor)

    # ------------------------------------------------------------------ review
    async def review(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        submission_id: str,
        decision: Decision,
        comment: str | None,
        item_comments: Mapping[str, str],
    ) -> Submission:
        org, user = principal.org_id, principal.user_id
        await authorize(
            self.store,
            principal,
            ctx,
            Action.SUBMISSION_REVIEW,
            target_type=_SUBMISSION,
            target_id=submission_id,
        )
        sub = await self._submission(org, submission_id)
        if user in (sub.get("crew") or ()):
            exc = Forbidden("Nobody reviews a checklist whose crew they are on.", code="own_work")
            await audit_denial(
                self.store,
                principal,
                ctx,
                Action.SUBMISSION_REVIEW,
                exc,
                _SUBMISSION,
                submission_id,
                clock=self.clock,
            )
            raise exc
        if decision is Decision.REJECT and not comment:
            raise ValidationFailed("A rejection says why (comment).", code="comment_required")
        version = await self.templates.version_of(
            org, sub["template_id"], int(sub["template_version"])
        )
        known = {
            i.get("id")
            for s in version.definition.get("sections") or ()
            for i in s.get("items") or ()
        }
        unknown = sorted(k for k in item_comments if k not in known)
        if unknown:
            raise ValidationFailed(
                "A comment names an item the template does not have.",
                code="unknown_item",
                details={"item_ids": unknown[:50]},
            )

        async def attempt() -> tuple[Submission, builtins.list[LoggedOp]]:
            # the assignment first: a rival review commits both in one transaction, so
            # an assignment read after it is followed by a submission read after it too
            # (the loser then says already_reviewed, never invalid_transition)
            item = await self._item(org, sub["assignment_id"])
            current = await self._submission(org, submission_id)
            if await self._review_of(org, submission_id) is not None or current["status"] in (
                SubmissionStatus.APPROVED.value,
                SubmissionStatus.REJECTED.value,
            ):
                raise Conflict("This submission is already reviewed.", code="already_reviewed")
            state = AssignmentState(item["state"])
            if item.get("latest_submission_id") != submission_id:
                raise Conflict(
                    "A later version of this checklist exists.", code="not_latest_version"
                )
            transition = Transition.APPROVE if decision is Decision.APPROVE else Transition.REJECT
            # a submission superseded by a cancellation: the assignment's state says why
            new_state = check_transition(state, transition)
            if current["status"] != SubmissionStatus.PENDING.value:
                raise Conflict("This submission is already reviewed.", code="already_reviewed")
            now = self.now()
            a_version = int(item["version"])
            review = repo.review_item(
                org_id=org,
                submission_id=submission_id,
                decision=decision,
                comment=comment,
                item_comments=item_comments,
                reviewed_by=user,
                now=now,
            )
            status = (
                SubmissionStatus.APPROVED
                if decision is Decision.APPROVE
                else SubmissionStatus.REJECTED
            )
            ops: builtins.list[TransactOp] = [
                Put(repo.SUBMISSIONS, review, condition=ItemNotExists()),
                Update(
                    repo.SUBMISSIONS,
                    repo.submission_key(org, submission_id),
                    UpdateSpec(set={"status": status.value}, remove=("gsi2pk", "gsi2sk")),
                    condition=AttrEquals("status", SubmissionStatus.PENDING.value),
                ),
                Update(
                    repo.ASSIGNMENTS,
                    repo.assignment_key(org, item["id"]),
                    UpdateSpec(
                        set={
                            "state": new_state.value,
                            "reviewed_at": now,
                            "updated_at": now,
                            "version": a_version + 1,
                        }
                    ),
                    condition=All(
                        ItemExists(),
                        version_equals(a_version),
                        AttrEquals("latest_submission_id", submission_id),
                    ),
                ),
            ]
            if decision is Decision.REJECT and item.get("overdue_at") is None:
                # open again: the overdue check watches it again (submit took it off)
                ops.append(Put(repo.ASSIGNMENTS, repo.watch_item(org, item["id"], item["due_at"])))
            logged: builtins.list[LoggedOp] = []
            if decision is Decision.REJECT:  # the crew signs again after changing it
                doc = await self._doc(org, item["id"])
                doc_ops, logged = clearing_ops(
                    org, doc, kind=OpKind.REVIEW, by=user, now=self.clock()
                )
                ops.extend(doc_ops)
            ops.append(
                self._event(
                    principal,
                    ctx,
                    org,
                    "submission.reviewed",
                    submission_id,
                    target_type=_SUBMISSION,
                    changes={
                        "status": {"old": "pending", "new": status.value},
                        "assignment_state": {"old": state.value, "new": new_state.value},
                    },
                    details={
                        "assignment_id": item["id"],
                        "number": current["number"],
                        "decision": decision.value,
                        "comment": comment,
                        "item_comments": sorted(item_comments),
                    },
                )
            )
            await self._write(ops)
            return repo.submission_of({**current, "status": status.value}, review), logged

        submission, logged = await self._retrying(attempt, "submission")
        await publish_ops(self.pubsub, org, submission.assignment_id, logged, log)
        await self._announce(
            org,
            "submission.reviewed",
            assignment_id=submission.assignment_id,
            submission_id=submission_id,
            decision=decision.value,
        )
        await self._announce(
            org,
            "clearance.changed",
            assignment_id=submission.assignment_id,
            cleared=None,  # ask GET .../clearance: certifications and dates also count
        )
        return submission

    # ------------------------------------------------------------------ clearance
    async def clearance(
        self, *, principal: Principal, ctx: RequestContext, assignment_id: str
    ) -> Clearance:
        org = principal.org_id
        item = await self._readable(principal, ctx, assignment_id)
        return await self._clearance_of(org, repo.assignment_of(item))

    async def _clearance_of(self, org_id: str, assignment: Assignment) -> Clearance:
        version = await self.templates.version_of(
            org_id, assignment.template_id, assignment.template_version
        )
        definition = version.definition
        required = [str(c.get("name")) for c in definition.get("required_certifications") or ()]
        valid_days = int(definition.get("clearance_valid_days") or 1)
        tz = await self.orgs.time_zone(org_id)
        now_ts = self.clock()
        planned = planned_date_in(tz, assignment.planned_start)
        today = planned_date_in(tz, datetime.fromtimestamp(now_ts, UTC).isoformat())
        crew: Sequence[str] = assignment.crew or (
            (assignment.assignee.id,) if assignment.assignee.type == "user" else ()
        )
        submission: Item | None = None
        if assignment.latest_submission_id is not None:
            submission = await self.store.get(
                repo.SUBMISSIONS, repo.submission_key(org_id, assignment.latest_submission_id)
            )
        certs = await self.profiles.certifications_of(org_id, list(crew))
        signoffs: Mapping[str, Any] = (submission or {}).get("signoffs") or {}
        if assignment.state not in (AssignmentState.SUBMITTED, AssignmentState.APPROVED):
            # being filled in (or not yet): the sign-offs of the answers as they are now
            doc = await self.store.get(repo.ASSIGNMENTS, repo.doc_key(org_id, assignment.id))
            signoffs = (doc or {}).get("signoffs") or {}
        reasons = clearance_reasons(
            state=assignment.state.value,
            crew=list(crew),
            signoffs=signoffs,
            failed_critical=(submission or {}).get("failed_critical") or (),
            required_certifications=required,
            certifications={u: [asdict(c) for c in held] for u, held in certs.items()},
            planned_date=planned,
            today=today,
            valid_days=valid_days,
            voided=assignment.voided,
        )
        until = planned + timedelta(days=valid_days - 1)
        return Clearance(
            assignment_id=assignment.id,
            cleared=not reasons,
            state=assignment.state,
            submission_id=assignment.latest_submission_id,
            planned_date=planned.isoformat(),
            valid_from=planned.isoformat(),
            valid_until=until.isoformat(),
            reasons=tuple(reasons),
            voided=assignment.voided,
            checked_at=self.now(),
        )

    async def void(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        assignment_id: str,
        reason: str,
        expected_version: int | None,
    ) -> Clearance:
        """Stop work: void the clearance of an approved assignment (final)."""
        org = principal.org_id
        await self._authorized(principal, ctx, Action.CLEARANCE_VOID, assignment_id)

        async def attempt() -> Assignment:
            item = await self._item(org, assignment_id)
            version = check_version(item, expected_version)
            state = AssignmentState(item["state"])
            check_transition(state, Transition.VOID)
            if item.get("voided") is not None:
                raise Conflict("The clearance is already voided.", code="already_voided")
            now = self.now()
            voided = {"by": principal.user_id, "at": now, "reason": reason}
            ops: builtins.list[TransactOp] = [
                Update(
                    repo.ASSIGNMENTS,
                    repo.assignment_key(org, assignment_id),
                    UpdateSpec(set={"voided": voided, "updated_at": now, "version": version + 1}),
                    condition=All(ItemExists(), version_equals(version)),
                ),
                self._event(
                    principal,
                    ctx,
                    org,
                    "clearance.voided",
                    assignment_id,
                    changes={"version": {"old": version, "new": version + 1}},
                    details={"reason": reason},
                ),
            ]
            await self._write(ops)
            return repo.assignment_of(
                {**item, "voided": voided, "updated_at": now, "version": version + 1}
            )

        assignment = await self._retrying(attempt, "assignment")
        await self._announce(
            org,
            "clearance.changed",
            assignment_id=assignment_id,
            cleared=False,
            voided=True,
            reason=reason,
        )
        return await self._clearance_of(org, assignment)
