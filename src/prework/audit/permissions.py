"""The audit area's actions and who may do them (merged into :mod:`prework.authz.matrix`)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from prework.authz.roles import AUDIT_READERS
from prework.core.principal import Role

__all__ = ["GRANTS", "AuditAction"]


class AuditAction(StrEnum):
    AUDIT_READ = "audit.read"


GRANTS: Mapping[StrEnum, frozenset[Role]] = {AuditAction.AUDIT_READ: AUDIT_READERS}
