"""The checklist services of one app, built together by :mod:`prework.bootstrap`."""

from __future__ import annotations

from dataclasses import dataclass

from prework.checklists.assignments import AssignmentService
from prework.checklists.editing import DocEditing
from prework.checklists.reviews import ReviewService
from prework.checklists.templates import TemplateService

__all__ = ["Checklists"]


@dataclass(frozen=True, slots=True)
class Checklists:
    templates: TemplateService
    assignments: AssignmentService
    answers: DocEditing
    reviews: ReviewService
