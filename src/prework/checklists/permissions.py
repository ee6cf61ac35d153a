"""The checklist area's actions and who may do them (merged into :mod:`prework.authz.matrix`).

Owners and admins manage templates; everybody reads the published versions
(workers fill them in, supervisors assign them); drafts and exports are read by
those who manage them and by auditors, who read everything and change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from prework.authz.roles import AUDIT_READERS, EVERYONE, MANAGERS
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
}
