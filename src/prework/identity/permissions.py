"""The identity area's actions and who may do them (merged into :mod:`prework.authz.matrix`)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from prework.authz.roles import AUDIT_READERS, EVERYONE, MANAGERS, ORG_READERS
from prework.core.principal import Role

__all__ = ["CREW_MANAGERS", "GRANTS", "HIERARCHICAL", "IdentityAction"]

# who may vouch for a member's certification: those who run the organization and its crews
CREW_MANAGERS = frozenset({Role.OWNER, Role.ADMIN, Role.SUPERVISOR})


class IdentityAction(StrEnum):
    ORG_READ = "org.read"
    ORG_UPDATE = "org.update"
    USER_LIST = "user.list"
    USER_READ = "user.read"
    USER_INVITE = "user.invite"
    USER_CHANGE_ROLE = "user.change_role"
    USER_DEACTIVATE = "user.deactivate"
    USER_REACTIVATE = "user.reactivate"
    INVITATION_LIST = "invitation.list"
    INVITATION_REVOKE = "invitation.revoke"
    PROFILE_READ_OWN = "profile.read_own"
    PROFILE_UPDATE_OWN = "profile.update_own"
    PROFILE_READ_ANY = "profile.read_any"
    CERTIFICATION_VERIFY = "certification.verify"


GRANTS: Mapping[StrEnum, frozenset[Role]] = {
    IdentityAction.ORG_READ: EVERYONE,
    IdentityAction.ORG_UPDATE: MANAGERS,
    IdentityAction.USER_LIST: ORG_READERS,
    IdentityAction.USER_READ: ORG_READERS,
    IdentityAction.USER_INVITE: MANAGERS,
    IdentityAction.USER_CHANGE_ROLE: MANAGERS,
    IdentityAction.USER_DEACTIVATE: MANAGERS,
    IdentityAction.USER_REACTIVATE: MANAGERS,
    IdentityAction.INVITATION_LIST: AUDIT_READERS,
    IdentityAction.INVITATION_REVOKE: MANAGERS,
    IdentityAction.PROFILE_READ_OWN: EVERYONE,
    IdentityAction.PROFILE_UPDATE_OWN: EVERYONE,
    IdentityAction.PROFILE_READ_ANY: ORG_READERS,
    IdentityAction.CERTIFICATION_VERIFY: CREW_MANAGERS,
}

# actions on another member: only an owner may act on an owner or grant the owner role
HIERARCHICAL = frozenset(
    {
        IdentityAction.USER_INVITE,
        IdentityAction.USER_CHANGE_ROLE,
        IdentityAction.USER_DEACTIVATE,
        IdentityAction.USER_REACTIVATE,
        IdentityAction.INVITATION_REVOKE,
    }
)
