"""Request and response models of the assignment, answer, submission, review and
clearance routes (the shapes of ``docs/api.md``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from prework.checklists.clearance import Reason
from prework.checklists.reviews import Clearance
from prework.checklists.workflow import (
    MAX_CREW,
    AnswersDoc,
    Assignee,
    Assignment,
    AssignmentState,
    Decision,
    Submission,
    SubmissionStatus,
)
from prework.http.schemas import MAX_ID_LENGTH, DateTime, Name, ShortText, Strict, Version

__all__ = [
    "AnswersRead",
    "AnswersSave",
    "AssigneeIn",
    "AssigneeRead",
    "AssignmentCreate",
    "AssignmentRead",
    "AssignmentUpdate",
    "CancelBody",
    "ClearanceRead",
    "CrewAmend",
    "ReviewCreate",
    "SubmissionRead",
    "SubmissionSummary",
    "VoidBody",
]

Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]
ItemId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
# free text with newlines (a location, a reason, a comment): the one text rule
# applies to names; these are bounded and stored as given
Comment = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]
ItemComment = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1_000)
]
MAX_ANSWERS_PER_SAVE = 500  # a template has at most 500 items
MAX_ITEM_COMMENTS = 100


class AssigneeIn(Strict):
    type: Literal["user", "team"]
    id: Id

    def model(self) -> Assignee:
        return Assignee(self.type, self.id)


class Coordinates(Strict):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)


_ASSIGNMENT_EXAMPLE: dict[str, Any] = {
    "template_id": "3f2a0c0e9b7d4a55a1c2b3d4e5f60718",
    "assignee": {"type": "team", "id": "9a8b7c6d5e4f40312233445566778899"},
    "job_ref": "WO-2291",
    "location": "Pump station 4, tank B",
    "coordinates": {"lat": -36.8485, "lon": 174.7633},
    "planned_start": "2026-12-03T07:00:00+13:00",
    "due_at": "2026-12-03T06:30:00+13:00",
}


class AssignmentCreate(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_ASSIGNMENT_EXAMPLE]})

    template_id: Id
    template_version: int | None = Field(
        default=None, ge=1, le=999_999, strict=True, description="Default: the latest."
    )
    assignee: AssigneeIn
    title: Name | None = Field(default=None, description="Default: the template's name.")
    job_ref: ShortText = Field(description="The job or site reference (work order, permit).")
    location: Comment | None = None
    coordinates: Coordinates | None = None
    planned_start: DateTime
    due_at: DateTime = Field(description="When the checklist must be done.")


class AssignmentUpdate(Strict):
    title: Name | None = None
    assignee: AssigneeIn | None = Field(default=None, description="Only before the start.")
    job_ref: ShortText | None = None
    location: Comment | None = None
    coordinates: Coordinates | None = None
    planned_start: DateTime | None = None
    due_at: DateTime | None = None
    version: Version = None


class CancelBody(Strict):
    reason: Comment | None = None
    version: Version = None


class CrewAmend(Strict):
    user_ids: list[Id] = Field(min_length=1, max_length=MAX_CREW)
    reason: Comment | None = None
    version: Version = None


class AssigneeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    type: Literal["user", "team"]
    id: str


def _is_set(value: object) -> bool:
    return value is not None


class AssignmentRead(BaseModel):
    """An assignment, read from the attributes of its record (:meth:`of`, and
    ``Page[AssignmentRead].of`` for a page in one validation call)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    template_id: str
    template_version: int
    title: str
    assignee: AssigneeRead
    job_ref: str
    location: str | None
    coordinates: dict[str, float] | None
    planned_start: str
    due_at: str
    state: AssignmentState
    crew: list[str] | None = Field(description="Fixed at the start; null before.")
    submission_count: int
    latest_submission_id: str | None
    overdue: Annotated[bool, BeforeValidator(_is_set)] = Field(
        validation_alias="overdue_at", description="Marked by the overdue check."
    )
    clearance_voided: dict[str, Any] | None = Field(
        validation_alias="voided", description="{by, at, reason} once voided; null before."
    )
    created_by: str
    created_at: str
    updated_at: str
    version: int

    @classmethod
    def of(cls, a: Assignment) -> AssignmentRead:
        return cls.model_validate(a, from_attributes=True)


class AnswersSave(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"answers": {"isolated": "yes", "o2": 20.9, "notes": None}, "version": 3}]
        },
    )

    answers: dict[ItemId, Any] = Field(
        max_length=MAX_ANSWERS_PER_SAVE,
        description="Item id -> answer (null removes it); the answer's type follows the item.",
    )
    version: Version = None


class AnswersRead(BaseModel):
    assignment_id: str
    answers: dict[str, dict[str, Any]] = Field(description='item id -> {"value", "by", "at"}')
    signoffs: dict[str, dict[str, Any]] = Field(description='user id -> {"at", "version"}')
    version: int
    updated_at: str
    updated_by: str | None

    @classmethod
    def of(cls, doc: AnswersDoc) -> AnswersRead:
        return cls(
            assignment_id=doc.assignment_id,
            answers={k: dict(v) for k, v in doc.answers.items()},
            signoffs={k: dict(v) for k, v in doc.signoffs.items()},
            version=doc.version,
            updated_at=doc.updated_at,
            updated_by=doc.updated_by,
        )


class ReviewRead(BaseModel):
    decision: Decision
    comment: str | None
    item_comments: dict[str, str]
    reviewed_by: str
    reviewed_at: str


class SubmissionSummary(BaseModel):
    id: str
    assignment_id: str
    number: int
    template_id: str
    template_version: int
    title: str
    job_ref: str
    due_at: str
    status: SubmissionStatus
    score: float | None
    failed_critical: list[str]
    crew: list[str]
    submitted_by: str
    submitted_at: str
    review: ReviewRead | None

    @classmethod
    def fields_of(cls, s: Submission) -> dict[str, Any]:
        return {
            "id": s.id,
            "assignment_id": s.assignment_id,
            "number": s.number,
            "template_id": s.template_id,
            "template_version": s.template_version,
            "title": s.title,
            "job_ref": s.job_ref,
            "due_at": s.due_at,
            "status": s.status,
            "score": s.score,
            "failed_critical": list(s.failed_critical),
            "crew": list(s.crew),
            "submitted_by": s.submitted_by,
            "submitted_at": s.submitted_at,
            "review": (
                ReviewRead(
                    decision=s.review.decision,
                    comment=s.review.comment,
                    item_comments=dict(s.review.item_comments),
                    reviewed_by=s.review.reviewed_by,
                    reviewed_at=s.review.reviewed_at,
                )
                if s.review is not None
                else None
            ),
        }

    @classmethod
    def of(cls, s: Submission) -> SubmissionSummary:
        return cls(**cls.fields_of(s))


class SubmissionRead(SubmissionSummary):
    answers: dict[str, dict[str, Any]]
    signoffs: dict[str, dict[str, Any]]
    cleared_hidden: list[str] = Field(description="Answers of hidden items, cleared at submit.")
    changes_from_previous: dict[str, list[str]] | None = Field(
        description='{"added", "removed", "changed"}: item ids; null for version 1.'
    )

    @classmethod
    def full(cls, s: Submission, changes: dict[str, list[str]] | None) -> SubmissionRead:
        return cls(
            **cls.fields_of(s),
            answers={k: dict(v) for k, v in s.answers.items()},
            signoffs={k: dict(v) for k, v in s.signoffs.items()},
            cleared_hidden=list(s.cleared_hidden),
            changes_from_previous=changes,
        )


class ReviewCreate(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "decision": "reject",
                    "comment": "O2 reading missing a second sample",
                    "item_comments": {"o2": "Take it at the manway and at the floor."},
                }
            ]
        },
    )

    decision: Decision
    comment: Comment | None = Field(default=None, description="Required to reject.")
    item_comments: dict[ItemId, ItemComment] = Field(
        default_factory=dict, max_length=MAX_ITEM_COMMENTS
    )


class VoidBody(Strict):
    reason: Comment
    version: Version = None


class ReasonRead(BaseModel):
    code: str
    message: str
    details: dict[str, Any]

    @classmethod
    def of(cls, r: Reason) -> ReasonRead:
        return cls(code=r.code, message=r.message, details=dict(r.details))


class ClearanceRead(BaseModel):
    assignment_id: str
    cleared: bool = Field(description="Whether work may start now.")
    state: AssignmentState
    submission_id: str | None
    planned_date: str = Field(description="The planned start's date in the org's time zone.")
    valid_from: str
    valid_until: str
    reasons: list[ReasonRead]
    voided: dict[str, Any] | None
    checked_at: str

    @classmethod
    def of(cls, c: Clearance) -> ClearanceRead:
        return cls(
            assignment_id=c.assignment_id,
            cleared=c.cleared,
            state=c.state,
            submission_id=c.submission_id,
            planned_date=c.planned_date,
            valid_from=c.valid_from,
            valid_until=c.valid_until,
            reasons=[ReasonRead.of(r) for r in c.reasons],
            voided=dict(c.voided) if c.voided is not None else None,
            checked_at=c.checked_at,
        )
