"""The teams area's actions and who may do them (merged into :mod:`prework.authz.matrix`).

Owners, admins and supervisors manage teams; auditors read every team; a worker
reads the teams they belong to (``team.read_own``: the service checks the
membership, a team they are not in is not found).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from prework.authz.roles import EVERYONE, ORG_READERS
from prework.core.principal import Role

__all__ = ["GRANTS", "TEAM_MANAGERS", "TeamAction"]

TEAM_MANAGERS = frozenset({Role.OWNER, Role.ADMIN, Role.SUPERVISOR})


class TeamAction(StrEnum):
    TEAM_CREATE = "team.create"
    TEAM_LIST = "team.list"
    TEAM_READ = "team.read"
    TEAM_READ_OWN = "team.read_own"
    TEAM_RENAME = "team.rename"
    TEAM_MANAGE_MEMBERS = "team.manage_members"
    TEAM_ARCHIVE = "team.archive"


GRANTS: Mapping[StrEnum, frozenset[Role]] = {
    TeamAction.TEAM_CREATE: TEAM_MANAGERS,
    TeamAction.TEAM_LIST: ORG_READERS,
    TeamAction.TEAM_READ: ORG_READERS,
    TeamAction.TEAM_READ_OWN: EVERYONE,
    TeamAction.TEAM_RENAME: TEAM_MANAGERS,
    TeamAction.TEAM_MANAGE_MEMBERS: TEAM_MANAGERS,
    TeamAction.TEAM_ARCHIVE: TEAM_MANAGERS,
}
