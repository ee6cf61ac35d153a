"""THE permission matrix: which role may do which action. Nothing else decides.

Every service call that reads or changes organization data names its
:class:`Action` and calls :func:`require` (through
:func:`prework.services.audit.require`, which also audits a denial). The
matrix is rendered into ``docs/permissions.md`` by :func:`render_markdown`; a
test fails if the document and this module disagree.

Two rules go beyond the matrix and live here too:

* Role hierarchy (:func:`require_manage`): only an owner may grant the owner
  role or act on (change the role of, deactivate, reactivate) an owner.
* Self-service: everybody may read and update their own profile and read their
  own account (``/api/auth/me``); those actions are in the matrix like any other.

"The last owner cannot be demoted or deactivated" is a rule about state, not
about roles: the users service enforces it atomically with a counter on the
organization item.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from prework.domain.identity import Principal, Role
from prework.errors import Forbidden

__all__ = [
    "MATRIX",
    "Action",
    "is_allowed",
    "render_markdown",
    "require",
    "require_manage",
]


class Action(StrEnum):
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
    AUDIT_READ = "audit.read"


_ALL = frozenset(Role)
_OWNER_ADMIN = frozenset({Role.OWNER, Role.ADMIN})
# readers of organization-wide data: managers, supervisors (who run crews) and auditors
_ORG_READERS = frozenset({Role.OWNER, Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR})
_AUDIT_READERS = frozenset({Role.OWNER, Role.ADMIN, Role.AUDITOR})

MATRIX: Mapping[Action, frozenset[Role]] = {
    Action.ORG_READ: _ALL,
    Action.ORG_UPDATE: _OWNER_ADMIN,
    Action.USER_LIST: _ORG_READERS,
    Action.USER_READ: _ORG_READERS,
    Action.USER_INVITE: _OWNER_ADMIN,
    Action.USER_CHANGE_ROLE: _OWNER_ADMIN,
    Action.USER_DEACTIVATE: _OWNER_ADMIN,
    Action.USER_REACTIVATE: _OWNER_ADMIN,
    Action.INVITATION_LIST: _AUDIT_READERS,
    Action.INVITATION_REVOKE: _OWNER_ADMIN,
    Action.PROFILE_READ_OWN: _ALL,
    Action.PROFILE_UPDATE_OWN: _ALL,
    Action.PROFILE_READ_ANY: _ORG_READERS,
    Action.AUDIT_READ: _AUDIT_READERS,
}

# actions whose target may be an owner only when an owner does them
_HIERARCHICAL = frozenset(
    {
        Action.USER_INVITE,
        Action.USER_CHANGE_ROLE,
        Action.USER_DEACTIVATE,
        Action.USER_REACTIVATE,
        Action.INVITATION_REVOKE,
    }
)


def is_allowed(role: Role, action: Action) -> bool:
    return role in MATRIX[action]


def require(principal: Principal, action: Action) -> None:
    """Raise :class:`Forbidden` unless ``principal``'s role may do ``action``."""
    if not is_allowed(principal.role, action):
        raise Forbidden(
            "Your role does not allow this.",
            code="forbidden",
            details={"action": action.value, "role": principal.role.value},
        )


def require_manage(
    principal: Principal,
    action: Action,
    *,
    target_role: Role | None = None,
    new_role: Role | None = None,
) -> None:
    """:func:`require`, plus the role hierarchy for actions on other members.

    ``target_role`` is the current role of the member acted on (None when there
    is no member yet, as for an invitation); ``new_role`` the role granted.
    Only an owner may act on an owner or grant the owner role.
    """
    require(principal, action)
    if action not in _HIERARCHICAL:
        raise ValueError(f"{action} is not an action on another member")
    touches_owner = Role.OWNER in (target_role, new_role)
    if touches_owner and principal.role is not Role.OWNER:
        raise Forbidden(
            "Only an owner may grant the owner role or act on an owner.",
            code="forbidden",
            details={"action": action.value, "role": principal.role.value},
        )


def render_markdown() -> str:
    """The matrix as a Markdown table (the body of ``docs/permissions.md``)."""
    roles = list(Role)
    head = "| Action | " + " | ".join(r.value for r in roles) + " |"
    rule = "|---|" + "|".join(":-:" for _ in roles) + "|"
    rows = [
        f"| `{action.value}` | "
        + " | ".join("yes" if is_allowed(role, action) else "-" for role in roles)
        + " |"
        for action in Action
    ]
    return "\n".join([head, rule, *rows]) + "\n"
