"""Assignments and submissions: records and the pure rules of their life cycle.

An assignment gives a published template version to a user or a team for a job:

``assigned`` -> ``in_progress`` (start fixes the crew) -> ``submitted`` ->
``approved`` | ``rejected``; a rejected assignment is started again (back to
``in_progress``, the same crew) and resubmitted as the next submission
version. ``cancelled`` is reachable from every state before approval. Anything
else is 409 ``invalid_transition`` naming the current state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, NamedTuple

from prework.errors import Conflict

__all__ = [
    "DOC_MAX_BYTES",
    "MAX_CREW",
    "AnswersDoc",
    "Assignee",
    "Assignment",
    "AssignmentState",
    "Decision",
    "Review",
    "Submission",
    "SubmissionStatus",
    "Transition",
    "check_transition",
    "invalid_transition",
]

# a crew is the people who sign off one job's checklist: bounded so that fixing,
# amending or moving it stays one transaction (the store's limit is 100 items)
MAX_CREW: Final = 50
# the answers document, stored as one item: well under the store's 400 KB item limit,
# leaving room for what a submission keeps next to the answers
DOC_MAX_BYTES: Final = 300 * 1024


class AssignmentState(StrEnum):
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Transition(StrEnum):
    START = "start"
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    EDIT = "edit"  # job details (PATCH)
    ANSWER = "answer"  # answers and sign-offs
    AMEND_CREW = "amend_crew"
    VOID = "void"  # the clearance of an approved assignment


_S = AssignmentState
_FROM: Final[Mapping[Transition, frozenset[AssignmentState]]] = {
    Transition.START: frozenset({_S.ASSIGNED, _S.REJECTED}),
    Transition.SUBMIT: frozenset({_S.IN_PROGRESS}),
    Transition.APPROVE: frozenset({_S.SUBMITTED}),
    Transition.REJECT: frozenset({_S.SUBMITTED}),
    Transition.CANCEL: frozenset({_S.ASSIGNED, _S.IN_PROGRESS, _S.SUBMITTED, _S.REJECTED}),
    Transition.EDIT: frozenset({_S.ASSIGNED, _S.IN_PROGRESS, _S.REJECTED}),
    Transition.ANSWER: frozenset({_S.IN_PROGRESS}),
    Transition.AMEND_CREW: frozenset({_S.IN_PROGRESS, _S.REJECTED}),
    Transition.VOID: frozenset({_S.APPROVED}),
}
_TO: Final[Mapping[Transition, AssignmentState]] = {
    Transition.START: _S.IN_PROGRESS,
    Transition.SUBMIT: _S.SUBMITTED,
    Transition.APPROVE: _S.APPROVED,
    Transition.REJECT: _S.REJECTED,
    Transition.CANCEL: _S.CANCELLED,
}
# states in which the checklist is still to be done (an assignment past due is overdue)
OPEN: Final = frozenset({_S.ASSIGNED, _S.IN_PROGRESS, _S.REJECTED})


def invalid_transition(state: AssignmentState, transition: Transition) -> Conflict:
    allowed = sorted(s.value for s in _FROM[transition])
    return Conflict(
        f"Cannot {transition.value.replace('_', ' ')} an assignment that is {state.value}.",
        code="invalid_transition",
        details={"state": state.value, "action": transition.value, "allowed_states": allowed},
    )


def check_transition(state: AssignmentState, transition: Transition) -> AssignmentState:
    """The state ``transition`` leads to from ``state`` (the same state for the
    transitions that change no state); 409 ``invalid_transition`` if not allowed."""
    if state not in _FROM[transition]:
        raise invalid_transition(state, transition)
    return _TO.get(transition, state)


def allowed_from(transition: Transition) -> frozenset[AssignmentState]:
    return _FROM[transition]


class SubmissionStatus(StrEnum):
    PENDING = "pending"  # awaiting review
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"  # the assignment was cancelled before a review


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class Assignee(NamedTuple):
    type: str  # "user" | "team"
    id: str


class Assignment(NamedTuple):
    """An assignment as stored (a named tuple: a page of them is built per listing,
    and a tuple is built about five times faster than a frozen dataclass)."""

    id: str
    org_id: str
    template_id: str
    template_version: int
    title: str
    assignee: Assignee
    job_ref: str
    location: str | None
    coordinates: Mapping[str, float] | None
    planned_start: str
    due_at: str
    state: AssignmentState
    crew: tuple[str, ...] | None  # fixed at start; None before
    submission_count: int
    latest_submission_id: str | None
    overdue_at: str | None
    voided: Mapping[str, Any] | None  # {by, at, reason}
    created_by: str
    created_at: str
    updated_at: str
    version: int

    def on_crew(self, user_id: str) -> bool:
        return self.crew is not None and user_id in self.crew


@dataclass(frozen=True, slots=True)
class AnswersDoc:
    assignment_id: str
    answers: Mapping[str, Mapping[str, Any]]  # item id -> {value, by, at}
    signoffs: Mapping[str, Mapping[str, Any]]  # user id -> {at, version}
    version: int
    updated_at: str
    updated_by: str | None


@dataclass(frozen=True, slots=True)
class Review:
    decision: Decision
    comment: str | None
    item_comments: Mapping[str, str]
    reviewed_by: str
    reviewed_at: str


@dataclass(frozen=True, slots=True)
class Submission:
    id: str
    org_id: str
    assignment_id: str
    number: int
    template_id: str
    template_version: int
    answers: Mapping[str, Mapping[str, Any]]
    signoffs: Mapping[str, Mapping[str, Any]]
    crew: tuple[str, ...]
    cleared_hidden: tuple[str, ...]
    failed_critical: tuple[str, ...]
    score: float | None
    status: SubmissionStatus
    submitted_by: str
    submitted_at: str
    due_at: str
    title: str
    job_ref: str
    review: Review | None


def missing_signoffs(crew: Sequence[str], signoffs: Mapping[str, Any]) -> list[str]:
    """Crew members who have not signed off, in crew order."""
    return [user for user in crew if user not in signoffs]
