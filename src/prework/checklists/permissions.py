"""The checklist area's actions and who may do them (merged into :mod:`prework.authz.matrix`).

Owners and admins manage templates; everybody reads the published versions
(workers fill them in, supervisors assign them); drafts and exports are read by
those who manage them and by auditors, who read everything and change nothing.

Owners, admins and supervisors create and manage assignments, review submissions
and void clearances; workers read and fill in the assignments whose crew they are
on (``assignment.read_own`` and ``assignment.work``: the service checks the crew,
an assignment they are not on is not found); a reviewer must not be on the crew
(the service refuses their own work); auditors read everything and change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from prework.authz.roles import (
    AUDIT_READERS,
    EVERYONE,
    MANAGERS,
    ORG_READERS,
    SUPERVISORS,
    WORKERS,
)
from prework.core.principal import Role

__all__ = ["GRANTS", "ChecklistAction"]


class ChecklistAction(StrEnum):
    TEMPLATE_LIST = "template.list"
    TEMPLATE_READ_PUBLISHED = "template.read_published"
    TEMPLATE_READ_DRAFT = "template.read_draft"
    TEMPLATE_CREATE = "template.create"
    TEMPLATE_UPDATE = "template.update"
    TEMPLATE_PUBLISH = "template.publish"
    TEMPLATE_RETIRE = "template.retire"
    TEMPLATE_EXPORT = "template.export"
    TEMPLATE_IMPORT = "template.import"
    ASSIGNMENT_CREATE = "assignment.create"
    ASSIGNMENT_READ = "assignment.read"
    ASSIGNMENT_READ_OWN = "assignment.read_own"
    ASSIGNMENT_UPDATE = "assignment.update"
    ASSIGNMENT_START = "assignment.start"
    ASSIGNMENT_WORK = "assignment.work"
    SUBMISSION_REVIEW = "submission.review"
    REVIEW_QUEUE = "review.queue"
    CLEARANCE_VOID = "clearance.void"


GRANTS: Mapping[StrEnum, frozenset[Role]] = {
    ChecklistAction.TEMPLATE_LIST: EVERYONE,
    ChecklistAction.TEMPLATE_READ_PUBLISHED: EVERYONE,
    ChecklistAction.TEMPLATE_READ_DRAFT: AUDIT_READERS,
    ChecklistAction.TEMPLATE_CREATE: MANAGERS,
    ChecklistAction.TEMPLATE_UPDATE: MANAGERS,
    ChecklistAction.TEMPLATE_PUBLISH: MANAGERS,
    ChecklistAction.TEMPLATE_RETIRE: MANAGERS,
    ChecklistAction.TEMPLATE_EXPORT: AUDIT_READERS,
    ChecklistAction.TEMPLATE_IMPORT: MANAGERS,
    ChecklistAction.ASSIGNMENT_CREATE: SUPERVISORS,
    ChecklistAction.ASSIGNMENT_READ: ORG_READERS,
    ChecklistAction.ASSIGNMENT_READ_OWN: EVERYONE,
    ChecklistAction.ASSIGNMENT_UPDATE: SUPERVISORS,
    ChecklistAction.ASSIGNMENT_START: WORKERS,
    ChecklistAction.ASSIGNMENT_WORK: WORKERS,
    ChecklistAction.SUBMISSION_REVIEW: SUPERVISORS,
    ChecklistAction.REVIEW_QUEUE: SUPERVISORS,
    ChecklistAction.CLEARANCE_VOID: SUPERVISORS,
}
