"""The routes of the work itself: ``/api/assignments``, ``/api/submissions``,
``/api/reviews``.

:data:`routers` holds them (what :mod:`prework.app` mounts). An assignment's
``ETag`` is its version; the answers document's (``.../answers``, ``.../signoff``,
``.../submit``) is the document's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, Response, status

from prework.checklists.assignments import AssignmentFilter
from prework.checklists.services import Checklists
from prework.checklists.work_schemas import (
    AnswersRead,
    AnswersSave,
    AssignmentCreate,
    AssignmentRead,
    AssignmentUpdate,
    CancelBody,
    ClearanceRead,
    CrewAmend,
    ReviewCreate,
    SubmissionRead,
    SubmissionSummary,
    VoidBody,
)
from prework.checklists.workflow import AnswersDoc, Assignment, AssignmentState
from prework.http.bodies import body_bounds
from prework.http.deps import area_services
from prework.http.openapi import answers
from prework.http.routing import APIRouter
from prework.http.schemas import (
    MAX_ID_LENGTH,
    Cursor,
    DateTime,
    Limit,
    Page,
    PathId,
    VersionBody,
)
from prework.http.security import Ctx, CurrentPrincipal
from prework.http.versioning import expected_version, patch_changes, set_etag

# the page models of this module's listings (parametrized once, not per request)
AssignmentPage = Page[AssignmentRead]

__all__ = ["routers"]

ChecklistsDep = Annotated[Checklists, Depends(area_services("checklists", Checklists))]
OptionalId = Annotated[str | None, Query(min_length=1, max_length=MAX_ID_LENGTH)]

assignments = APIRouter(prefix="/api/assignments", tags=["assignments"])
submissions = APIRouter(prefix="/api/submissions", tags=["submissions"])
reviews = APIRouter(prefix="/api/reviews", tags=["submissions"])
routers = (assignments, submissions, reviews)
# an answers document is at most 300 KB stored; a save of it, escaped, a little more
ANSWERS_BODY = body_bounds(max_bytes=512 * 1024)

_STATE_ERRORS: dict[int | str, dict[str, str]] = {
    409: {
        "description": "`invalid_transition` (`details.state`: the current state), "
        "`stale_version` (`details.current_version`)"
    },
}


def _read(response: Response, assignment: Assignment) -> AssignmentRead:
    set_etag(response, assignment.version)
    return AssignmentRead.of(assignment)


def _answers(response: Response, doc: AnswersDoc) -> AnswersRead:
    set_etag(response, doc.version)
    return AnswersRead.of(doc)


# --------------------------------------------------------------------------- assignments
@assignments.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Assign a published template version to a user or a team for a job "
    "(owner/admin/supervisor)",
    responses={
        **answers(404),
        409: {"description": "`template_not_published`, `template_retired`"},
        422: {
            "description": "`unknown_member`, `member_inactive`, `member_cannot_work`, "
            "`unknown_team`, `validation_failed`"
        },
    },
)
async def create_assignment(
    body: AssignmentCreate,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    response: Response,
) -> AssignmentRead:
    assignment = await checklists.assignments.create(
        principal=principal,
        ctx=ctx,
        template_id=body.template_id,
        template_version=body.template_version,
        assignee=body.assignee.model(),
        title=body.title,
        job_ref=body.job_ref,
        location=body.location,
        coordinates=body.coordinates.model_dump() if body.coordinates is not None else None,
        planned_start=body.planned_start,
        due_at=body.due_at,
    )
    response.headers["Location"] = f"/api/assignments/{assignment.id}"
    return _read(response, assignment)


@assignments.get(
    "",
    summary="List assignments by due time: the organization's (scope=org), or the "
    "caller's own and their teams' (scope=mine, the default for workers)",
    responses={
        422: {
            "description": "`invalid_cursor`, `invalid_filter` (`due_from` after `due_to`), "
            "`invalid_time`, `validation_failed`"
        }
    },
)
async def list_assignments(
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    scope: Annotated[str | None, Query(pattern="^(mine|org)$")] = None,
    team_id: OptionalId = None,
    state: Annotated[list[AssignmentState] | None, Query(max_length=6)] = None,
    template_id: OptionalId = None,
    job_ref: Annotated[str | None, Query(min_length=1, max_length=120)] = None,
    due_from: DateTime | None = None,
    due_to: DateTime | None = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> AssignmentPage:
    where = AssignmentFilter(
        scope=scope,
        team_id=team_id,
        states=frozenset(state or ()),
        template_id=template_id,
        job_ref=job_ref,
        due_from=due_from,
        due_to=due_to,
    )
    page = await checklists.assignments.list(
        principal=principal, ctx=ctx, where=where, limit=limit, cursor=cursor
    )
    return AssignmentPage.of(page)


@assignments.get("/{assignment_id}", summary="One assignment")
async def get_assignment(
    assignment_id: PathId,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    response: Response,
) -> AssignmentRead:
    assignment = await checklists.assignments.get(
        principal=principal, ctx=ctx, assignment_id=assignment_id
    )
    return _read(response, assignment)


@assignments.patch(
    "/{assignment_id}",
    summary="Change job details; the assignee only before the start (If-Match or version)",
    responses={
        **_STATE_ERRORS,
        422: {
            "description": "`unknown_member`, `member_inactive`, `member_cannot_work`, "
            "`unknown_team`, `invalid_time`, `validation_failed`"
        },
    },
)
async def update_assignment(
    assignment_id: PathId,
    body: AssignmentUpdate,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    request: Request,
    response: Response,
) -> AssignmentRead:
    changes = patch_changes(body, required="job_ref")
    for required in ("title", "planned_start", "due_at", "assignee"):
        patch_changes(body, required=required)  # 422 if sent as null
    if "assignee" in changes and body.assignee is not None:
        changes["assignee"] = body.assignee.model()
    if "coordinates" in changes and body.coordinates is not None:
        changes["coordinates"] = body.coordinates.model_dump()
    assignment = await checklists.assignments.update(
        principal=principal,
        ctx=ctx,
        assignment_id=assignment_id,
        changes=changes,
        expected_version=expected_version(request, body.version),
    )
    return _read(response, assignment)


@assignments.post(
    "/{assignment_id}/start",
    summary="Start the work (a crew member or a supervisor): fixes the crew; a rejected "
    "assignment is started again",
    responses={
        **_STATE_ERRORS,
        409: {
            "description": "`invalid_transition` (`details.state`), `stale_version`, "
            "`team_archived`, `empty_crew`, `crew_too_large`"
        },
        422: {"description": "`member_inactive`, `member_cannot_work` (the assignee user)"},
    },
)
async def start_assignment(
    assignment_id: PathId,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    request: Request,
    response: Response,
    body: VersionBody | None = None,
) -> AssignmentRead:
    assignment = await checklists.assignments.start(
        principal=principal,
        ctx=ctx,
        assignment_id=assignment_id,
        expected_version=expected_version(request, body.version if body else None),
    )
    return _read(response, assignment)


@assignments.post(
    "/{assignment_id}/cancel",
    summary="Cancel an assignment before approval (owner/admin/supervisor)",
    responses=_STATE_ERRORS,
)
async def cancel_assignment(
    assignment_id: PathId,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    request: Request,
    response: Response,
    body: CancelBody | None = None,
) -> AssignmentRead:
    assignment = await checklists.assignments.cancel(
        principal=principal,
        ctx=ctx,
        assignment_id=assignment_id,
        reason=body.reason if body else None,
        expected_version=expected_version(request, body.version if body else None),
    )
    return _read(response, assignment)


@assignments.post(
    "/{assignment_id}/crew",
    summary="Amend the fixed crew of a started assignment (clears every sign-off)",
    responses={
        **_STATE_ERRORS,
        422: {
            "description": "`unknown_member`, `member_inactive`, `member_cannot_work`, "
            "`duplicate_member`, `crew_change_too_large`, `validation_failed`"
        },
    },
)
async def amend_crew(
    assignment_id: PathId,
    body: CrewAmend,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    request: Request,
    response: Response,
) -> AssignmentRead:
    assignment = await checklists.assignments.amend_crew(
        principal=principal,
        ctx=ctx,
        assignment_id=assignment_id,
        user_ids=body.user_ids,
        reason=body.reason,
        expected_version=expected_version(request, body.version),
    )
    return _read(response, assignment)


# --------------------------------------------------------------------------- answers
@assignments.get("/{assignment_id}/answers", summary="The answers document and its sign-offs")
async def get_answers(
    assignment_id: PathId,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    response: Response,
) -> AnswersRead:
    doc = await checklists.answers.get(principal=principal, ctx=ctx, assignment_id=assignment_id)
    return _answers(response, doc)


_ANSWER_ERRORS: dict[int | str, dict[str, str]] = {
    **_STATE_ERRORS,
    403: {"description": "`forbidden`, `not_on_crew`"},
    422: {
        "description": "`invalid_answers` (`details.errors` = [{item_id, code, message}]), "
        "`document_too_large`, `validation_failed`"
    },
}


async def _save(
    replace: bool,
    assignment_id: str,
    body: AnswersSave,
    principal: CurrentPrincipal,
    checklists: Checklists,
    ctx: Ctx,
    request: Request,
    response: Response,
) -> AnswersRead:
    doc = await checklists.answers.save(
        principal=principal,
        ctx=ctx,
        assignment_id=assignment_id,
        values=body.answers,
        replace=replace,
        expected_version=expected_version(request, body.version),
    )
    return _answers(response, doc)


@assignments.put(
    "/{assignment_id}/answers",
    summary="Replace every answer (a crew member, while in progress)",
    responses=_ANSWER_ERRORS,
)
@ANSWERS_BODY
async def replace_answers(
    assignment_id: PathId,
    body: AnswersSave,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    request: Request,
    response: Response,
) -> AnswersRead:
    return await _save(True, assignment_id, body, principal, checklists, ctx, request, response)


@assignments.patch(
    "/{assignment_id}/answers",
    summary="Save some answers (null removes one; a crew member, while in progress)",
    responses=_ANSWER_ERRORS,
)
@ANSWERS_BODY
async def patch_answers(
    assignment_id: PathId,
    body: AnswersSave,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    request: Request,
    response: Response,
) -> AnswersRead:
    return await _save(False, assignment_id, body, principal, checklists, ctx, request, response)


@assignments.post(
    "/{assignment_id}/signoff",
    summary="Sign off the answers as they are (the caller, a crew member)",
    responses={**_STATE_ERRORS, 403: {"description": "`forbidden`, `not_on_crew`"}},
)
async def signoff(
    assignment_id: PathId,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    request: Request,
    response: Response,
    body: VersionBody | None = None,
) -> AnswersRead:
    doc = await checklists.answers.signoff(
        principal=principal,
        ctx=ctx,
        assignment_id=assignment_id,
        expected_version=expected_version(request, body.version if body else None),
    )
    return _answers(response, doc)


@assignments.post(
    "/{assignment_id}/submit",
    status_code=status.HTTP_201_CREATED,
    summary="Submit the answers as the next submission version (send Idempotency-Key)",
    responses={
        **_STATE_ERRORS,
        403: {"description": "`forbidden`, `not_on_crew`"},
        422: {
            "description": "`submission_invalid`: `details.errors` = [{item_id, code, "
            "message}] and `details.missing_signoffs` = [user ids], all at once"
        },
    },
)
async def submit(
    assignment_id: PathId,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    request: Request,
    response: Response,
    body: VersionBody | None = None,
) -> SubmissionRead:
    submission = await checklists.answers.submit(
        principal=principal,
        ctx=ctx,
        assignment_id=assignment_id,
        expected_version=expected_version(request, body.version if body else None),
    )
    response.headers["Location"] = f"/api/submissions/{submission.id}"
    return SubmissionRead.full(submission, None)


@assignments.get(
    "/{assignment_id}/submissions",
    summary="An assignment's submission versions, oldest first (without answers)",
)
async def list_submissions(
    assignment_id: PathId,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Page[SubmissionSummary]:
    page = await checklists.reviews.list(
        principal=principal, ctx=ctx, assignment_id=assignment_id, limit=limit, cursor=cursor
    )
    return Page[SubmissionSummary](
        items=[SubmissionSummary.of(s) for s in page.items], next_cursor=page.next_cursor
    )


# --------------------------------------------------------------------------- clearance
@assignments.get(
    "/{assignment_id}/clearance",
    summary="Whether work may start, and if not every reason",
)
async def get_clearance(
    assignment_id: PathId,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
) -> ClearanceRead:
    clearance = await checklists.reviews.clearance(
        principal=principal, ctx=ctx, assignment_id=assignment_id
    )
    return ClearanceRead.of(clearance)


@assignments.post(
    "/{assignment_id}/clearance/void",
    summary="Stop work: void the clearance of an approved assignment, with a reason "
    "(owner/admin/supervisor)",
    responses={409: {"description": "`invalid_transition`, `already_voided`, `stale_version`"}},
)
async def void_clearance(
    assignment_id: PathId,
    body: VoidBody,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    request: Request,
) -> ClearanceRead:
    clearance = await checklists.reviews.void(
        principal=principal,
        ctx=ctx,
        assignment_id=assignment_id,
        reason=body.reason,
        expected_version=expected_version(request, body.version),
    )
    return ClearanceRead.of(clearance)


# --------------------------------------------------------------------------- submissions
@submissions.get("/{submission_id}", summary="One submission version, with what changed")
async def get_submission(
    submission_id: PathId,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
) -> SubmissionRead:
    submission, changes = await checklists.reviews.get(
        principal=principal, ctx=ctx, submission_id=submission_id
    )
    return SubmissionRead.full(submission, changes)


@submissions.post(
    "/{submission_id}/review",
    summary="Approve or reject a submission (a supervisor or admin not on the crew)",
    responses={
        403: {"description": "`forbidden`, `own_work`"},
        409: {"description": "`already_reviewed`, `not_latest_version`, `invalid_transition`"},
        422: {"description": "`comment_required`, `unknown_item`, `validation_failed`"},
    },
)
# 100 item comments of up to 1,000 characters (3 bytes each in UTF-8, some escaped)
@body_bounds(max_bytes=512 * 1024)
async def review_submission(
    submission_id: PathId,
    body: ReviewCreate,
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
) -> SubmissionSummary:
    submission = await checklists.reviews.review(
        principal=principal,
        ctx=ctx,
        submission_id=submission_id,
        decision=body.decision,
        comment=body.comment,
        item_comments=body.item_comments,
    )
    return SubmissionSummary.of(submission)


@reviews.get(
    "/queue",
    summary="Submissions awaiting review by due time, without the caller's own crews' "
    "(owner/admin/supervisor)",
)
async def review_queue(
    principal: CurrentPrincipal,
    checklists: ChecklistsDep,
    ctx: Ctx,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Page[SubmissionSummary]:
    page = await checklists.reviews.queue(principal=principal, ctx=ctx, limit=limit, cursor=cursor)
    return Page[SubmissionSummary](
        items=[SubmissionSummary.of(s) for s in page.items], next_cursor=page.next_cursor
    )
