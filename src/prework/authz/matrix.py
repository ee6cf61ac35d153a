"""THE permission matrix: which role may do which action. Nothing else decides.

Each area declares its actions and grants in its own ``permissions.py`` (a
``StrEnum`` of actions and ``GRANTS``); this module merges them, in
:data:`AREAS` order, into :data:`MATRIX`, and refuses to load if two areas
declare the same action. Every service call that reads or changes
organization data names its action and calls
:func:`prework.authz.authorize.authorize`, which applies :func:`require` and
audits a denial. The matrix is rendered into ``docs/permissions.md`` by
:func:`render_markdown`; a test fails if the document and the code disagree.

Two rules go beyond the matrix and live here too:

* Role hierarchy (:func:`require_manage`): only an owner may grant the owner
  role or act on (change the role of, deactivate, reactivate) an owner.
* Self-service: everybody may read and update their own profile and read their
  own account (``/api/auth/me``); those actions are in the matrix like any other.

"The last owner cannot be demoted or deactivated" is a rule about state, not
about roles: the identity users service enforces it atomically with a counter
on the organization item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

from prework.audit import permissions as audit_permissions
from prework.checklists import permissions as checklists_permissions
from prework.core.principal import Principal, Role
from prework.errors import Forbidden
from prework.identity import permissions as identity_permissions
from prework.media import permissions as media_permissions
from prework.teams import permissions as team_permissions

__all__ = [
    "ACTIONS",
    "AREAS",
    "MATRIX",
    "allowed_actions",
    "is_allowed",
    "render_markdown",
    "require",
    "require_manage",
]

# every area's grants, in the order the document lists them
AREAS: Sequence[tuple[str, Mapping[StrEnum, frozenset[Role]]]] = (
    ("identity", identity_permissions.GRANTS),
    ("audit", audit_permissions.GRANTS),
    ("teams", team_permissions.GRANTS),
    ("checklists", checklists_permissions.GRANTS),
    ("media", media_permissions.GRANTS),
)
_HIERARCHICAL: frozenset[StrEnum] = frozenset(identity_permissions.HIERARCHICAL)


def _merge() -> dict[StrEnum, frozenset[Role]]:
    merged: dict[StrEnum, frozenset[Role]] = {}
    seen: dict[str, str] = {}
    for area, grants in AREAS:
        for action, roles in grants.items():
            if action.value in seen:
                raise ValueError(
                    f"action {action.value!r} is declared by {seen[action.value]} and {area}"
                )
            seen[action.value] = area
            merged[action] = roles
    return merged


MATRIX: Mapping[StrEnum, frozenset[Role]] = _merge()
ACTIONS: Sequence[StrEnum] = tuple(MATRIX)


def is_allowed(role: Role, action: StrEnum) -> bool:
    return role in MATRIX[action]


_ALLOWED: Mapping[Role, tuple[str, ...]] = {
    role: tuple(sorted(action.value for action, roles in MATRIX.items() if role in roles))
    for role in Role
}


def allowed_actions(role: Role) -> list[str]:
    """The names of every action ``role`` may do, sorted."""
    return list(_ALLOWED[role])


def _forbidden(principal: Principal, action: StrEnum, message: str) -> Forbidden:
    return Forbidden(
        message,
        code="forbidden",
        details={"action": action.value, "role": principal.role.value},
    )


def require(principal: Principal, action: StrEnum) -> None:
    """Raise :class:`Forbidden` unless ``principal``'s role may do ``action``."""
    if not is_allowed(principal.role, action):
        raise _forbidden(principal, action, "Your role does not allow this.")


def require_manage(
    principal: Principal,
    action: StrEnum,
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
        raise _forbidden(
            principal, action, "Only an owner may grant the owner role or act on an owner."
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
        for action in ACTIONS
    ]
    return "\n".join([head, rule, *rows]) + "\n"
