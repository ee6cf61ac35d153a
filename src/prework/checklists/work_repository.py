"""Where assignments and submissions live: every key and item shape of the
``assignments`` and ``submissions`` tables.

``assignments``, all in the organization's partition ``ORG#<org>`` except the
due-time watch:

* the assignment ``ASSIGN#<id>``; gsi1 ``ORG#<org>#ASSIGNEE#<user or team>`` /
  ``<due>#<id>`` (a user's or a team's assignments by due time), gsi2
  ``ORG#<org>#ASSIGNMENTS`` / ``<due>#<id>`` (the organization's);
* the answers document ``ASSIGN#<id>#DOC`` (one per assignment, versioned);
* a crew entry ``ASSIGN#<id>#CREW#<user>`` for each member of a fixed crew who
  is not the assignee: gsi1 ``ORG#<org>#ASSIGNEE#<user>`` / ``<due>#<id>``, so
  "my assignments" finds the jobs whose crew a user is on;
* a due watch ``DUEWATCH#<due date>`` / ``<due>#<org>#<id>`` while the checklist
  is still to be done, so that the overdue check finds what fell due without
  a scan (one partition per UTC day).

``submissions``, in ``ORG#<org>``:

* a submission ``SUB#<id>``, written once (``ItemNotExists``), then only its
  review status changes; gsi1 ``ORG#<org>#ASSIGNMENT#<assignment>`` /
  ``<number, 6 digits>`` (an assignment's versions); gsi2 ``ORG#<org>#REVIEWQ`` /
  ``<due>#<id>`` only while it awaits review (the review queue);
* its review ``SUB#<id>#REVIEW``, written once (``ItemNotExists``: of two
  reviewers racing, one wins).

``docs/data-model.md`` describes the same shapes; change both together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from prework.checklists.workflow import (
    AnswersDoc,
    Assignee,
    Assignment,
    AssignmentState,
    Decision,
    Review,
    Submission,
    SubmissionStatus,
)
from prework.store.base import Item, Key

__all__ = [
    "ASSIGNMENTS",
    "SUBMISSIONS",
    "assignee_pk",
    "assignment_item",
    "assignment_key",
    "assignment_of",
    "crew_entry",
    "crew_key",
    "doc_item",
    "doc_key",
    "doc_of",
    "is_assignment",
    "listing_sk",
    "org_listing_pk",
    "queue_pk",
    "review_item",
    "review_key",
    "submission_item",
    "submission_key",
    "submission_of",
    "submissions_pk",
    "watch_item",
    "watch_key",
    "watch_pk",
]

ASSIGNMENTS: Final = "assignments"
SUBMISSIONS: Final = "submissions"


def _pk(org_id: str) -> str:
    return f"ORG#{org_id}"


# --------------------------------------------------------------------------- keys
def assignment_key(org_id: str, assignment_id: str) -> Key:
    return {"pk": _pk(org_id), "sk": f"ASSIGN#{assignment_id}"}


def doc_key(org_id: str, assignment_id: str) -> Key:
    return {"pk": _pk(org_id), "sk": f"ASSIGN#{assignment_id}#DOC"}


def crew_key(org_id: str, assignment_id: str, user_id: str) -> Key:
    return {"pk": _pk(org_id), "sk": f"ASSIGN#{assignment_id}#CREW#{user_id}"}


def assignee_pk(org_id: str, assignee_id: str) -> str:
    """gsi1: the assignments of one user or team (and a user's crew entries)."""
    return f"ORG#{org_id}#ASSIGNEE#{assignee_id}"


def org_listing_pk(org_id: str) -> str:
    """gsi2: every assignment of the organization."""
    return f"ORG#{org_id}#ASSIGNMENTS"


def listing_sk(due_at: str, assignment_id: str) -> str:
    return f"{due_at}#{assignment_id}"


def watch_pk(day: str) -> str:
    return f"DUEWATCH#{day}"


def watch_key(org_id: str, assignment_id: str, due_at: str) -> Key:
    return {"pk": watch_pk(due_at[:10]), "sk": f"{due_at}#{org_id}#{assignment_id}"}


def submission_key(org_id: str, submission_id: str) -> Key:
    return {"pk": _pk(org_id), "sk": f"SUB#{submission_id}"}


def review_key(org_id: str, submission_id: str) -> Key:
    return {"pk": _pk(org_id), "sk": f"SUB#{submission_id}#REVIEW"}


def submissions_pk(org_id: str, assignment_id: str) -> str:
    """gsi1 of ``submissions``: an assignment's versions by number."""
    return f"ORG#{org_id}#ASSIGNMENT#{assignment_id}"


def queue_pk(org_id: str) -> str:
    """gsi2 of ``submissions``: what awaits review, by due time."""
    return f"ORG#{org_id}#REVIEWQ"


# --------------------------------------------------------------------------- items
def listing_attrs(org_id: str, assignee_id: str, due_at: str, assignment_id: str) -> Item:
    sk = listing_sk(due_at, assignment_id)
    return {
        "gsi1pk": assignee_pk(org_id, assignee_id),
        "gsi1sk": sk,
        "gsi2pk": org_listing_pk(org_id),
        "gsi2sk": sk,
    }


def assignment_item(
    *,
    org_id: str,
    assignment_id: str,
    template_id: str,
    template_version: int,
    title: str,
    assignee: Assignee,
    job_ref: str,
    location: str | None,
    coordinates: Mapping[str, float] | None,
    planned_start: str,
    due_at: str,
    created_by: str,
    now: str,
) -> Item:
    return {
        **assignment_key(org_id, assignment_id),
        **listing_attrs(org_id, assignee.id, due_at, assignment_id),
        "type": "assignment",
        "id": assignment_id,
        "org_id": org_id,
        "template_id": template_id,
        "template_version": template_version,
        "title": title,
        "assignee_type": assignee.type,
        "assignee_id": assignee.id,
        "job_ref": job_ref,
        "location": location,
        "coordinates": dict(coordinates) if coordinates is not None else None,
        "planned_start": planned_start,
        "due_at": due_at,
        "state": AssignmentState.ASSIGNED.value,
        "crew": None,
        "submission_count": 0,
        "latest_submission_id": None,
        "overdue_at": None,
        "voided": None,
        "created_by": created_by,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


def crew_entry(
    org_id: str, assignment_id: str, user_id: str, due_at: str, assignee: Assignee
) -> Item:
    return {
        **crew_key(org_id, assignment_id, user_id),
        "type": "crew_entry",
        "org_id": org_id,
        "assignment_id": assignment_id,
        "user_id": user_id,
        # a listing that reads the assignee's own partition skips this entry
        "assignee_type": assignee.type,
        "assignee_id": assignee.id,
        "gsi1pk": assignee_pk(org_id, user_id),
        "gsi1sk": listing_sk(due_at, assignment_id),
    }


def doc_item(org_id: str, assignment_id: str, *, now: str) -> Item:
    return {
        **doc_key(org_id, assignment_id),
        "type": "answers",
        "org_id": org_id,
        "assignment_id": assignment_id,
        "answers": {},
        "signoffs": {},
        "version": 1,
        "updated_at": now,
        "updated_by": None,
    }


def watch_item(org_id: str, assignment_id: str, due_at: str) -> Item:
    return {
        **watch_key(org_id, assignment_id, due_at),
        "type": "due_watch",
        "org_id": org_id,
        "assignment_id": assignment_id,
        "due_at": due_at,
    }


def submission_item(
    *,
    org_id: str,
    submission_id: str,
    assignment: Mapping[str, Any],
    number: int,
    answers: Mapping[str, Any],
    signoffs: Mapping[str, Any],
    crew: Sequence[str],
    cleared_hidden: Sequence[str],
    failed_critical: Sequence[str],
    score: float | None,
    submitted_by: str,
    now: str,
) -> Item:
    return {
        **submission_key(org_id, submission_id),
        "type": "submission",
        "id": submission_id,
        "org_id": org_id,
        "assignment_id": assignment["id"],
        "number": number,
        "template_id": assignment["template_id"],
        "template_version": assignment["template_version"],
        "title": assignment["title"],
        "job_ref": assignment["job_ref"],
        "due_at": assignment["due_at"],
        "answers": dict(answers),
        "signoffs": dict(signoffs),
        "crew": list(crew),
        "cleared_hidden": list(cleared_hidden),
        "failed_critical": list(failed_critical),
        "score": score,
        "status": SubmissionStatus.PENDING.value,
        "submitted_by": submitted_by,
        "submitted_at": now,
        "gsi1pk": submissions_pk(org_id, assignment["id"]),
        "gsi1sk": f"{number:06d}",
        "gsi2pk": queue_pk(org_id),
        "gsi2sk": listing_sk(assignment["due_at"], submission_id),
    }


def review_item(
    *,
    org_id: str,
    submission_id: str,
    decision: Decision,
    comment: str | None,
    item_comments: Mapping[str, str],
    reviewed_by: str,
    now: str,
) -> Item:
    return {
        **review_key(org_id, submission_id),
        "type": "review",
        "org_id": org_id,
        "submission_id": submission_id,
        "decision": decision.value,
        "comment": comment,
        "item_comments": dict(item_comments),
        "reviewed_by": reviewed_by,
        "reviewed_at": now,
    }


# --------------------------------------------------------------------------- records
def is_assignment(item: Mapping[str, Any] | None, org_id: str) -> bool:
    return item is not None and item.get("type") == "assignment" and item.get("org_id") == org_id


def assignment_of(item: Mapping[str, Any]) -> Assignment:
    crew = item.get("crew")
    return Assignment(
        id=item["id"],
        org_id=item["org_id"],
        template_id=item["template_id"],
        template_version=int(item["template_version"]),
        title=item["title"],
        assignee=Assignee(item["assignee_type"], item["assignee_id"]),
        job_ref=item["job_ref"],
        location=item.get("location"),
        coordinates=item.get("coordinates"),
        planned_start=item["planned_start"],
        due_at=item["due_at"],
        state=AssignmentState(item["state"]),
        crew=tuple(crew) if crew is not None else None,
        submission_count=int(item.get("submission_count") or 0),
        latest_submission_id=item.get("latest_submission_id"),
        overdue_at=item.get("overdue_at"),
        voided=item.get("voided"),
        created_by=item["created_by"],
        created_at=item["created_at"],
        updated_at=item["updated_at"],
        version=int(item["version"]),
    )


def doc_of(item: Mapping[str, Any]) -> AnswersDoc:
    return AnswersDoc(
        assignment_id=item["assignment_id"],
        answers=item.get("answers") or {},
        signoffs=item.get("signoffs") or {},
        version=int(item["version"]),
        updated_at=item["updated_at"],
        updated_by=item.get("updated_by"),
    )


def is_submission(item: Mapping[str, Any] | None, org_id: str) -> bool:
    return item is not None and item.get("type") == "submission" and item.get("org_id") == org_id


def submission_of(item: Mapping[str, Any], review: Mapping[str, Any] | None = None) -> Submission:
    score = item.get("score")
    return Submission(
        id=item["id"],
        org_id=item["org_id"],
        assignment_id=item["assignment_id"],
        number=int(item["number"]),
        template_id=item["template_id"],
        template_version=int(item["template_version"]),
        answers=item.get("answers") or {},
        signoffs=item.get("signoffs") or {},
        crew=tuple(item.get("crew") or ()),
        cleared_hidden=tuple(item.get("cleared_hidden") or ()),
        failed_critical=tuple(item.get("failed_critical") or ()),
        score=float(score) if score is not None else None,
        status=SubmissionStatus(item["status"]),
        submitted_by=item["submitted_by"],
        submitted_at=item["submitted_at"],
        due_at=item["due_at"],
        title=item["title"],
        job_ref=item["job_ref"],
        review=(
            Review(
                decision=Decision(review["decision"]),
                comment=review.get("comment"),
                item_comments=review.get("item_comments") or {},
                reviewed_by=review["reviewed_by"],
                reviewed_at=review["reviewed_at"],
            )
            if review is not None
            else None
        ),
    )
