"""Named groups of roles, so that areas grant actions in the same words."""

from __future__ import annotations

from prework.core.principal import Role

__all__ = ["AUDIT_READERS", "EVERYONE", "MANAGERS", "ORG_READERS", "SUPERVISORS", "WORKERS"]

EVERYONE = frozenset(Role)
# run the organization: members, invitations, settings
MANAGERS = frozenset({Role.OWNER, Role.ADMIN})
# read organization-wide data: managers, supervisors (who run crews) and auditors
ORG_READERS = frozenset({Role.OWNER, Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR})
AUDIT_READERS = frozenset({Role.OWNER, Role.ADMIN, Role.AUDITOR})
# run crews: assign and review work, manage teams
SUPERVISORS = frozenset({Role.OWNER, Role.ADMIN, Role.SUPERVISOR})
# do work: everyone but auditors, who read everything and change nothing
WORKERS = frozenset(Role) - {Role.AUDITOR}
