"""The permission matrix, the role hierarchy, and the document that shows them."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from enum import StrEnum
from pathlib import Path
from types import ModuleType

import pytest

import prework
from prework.audit.permissions import AuditAction
from prework.authz.matrix import (
    ACTIONS,
    AREAS,
    MATRIX,
    allowed_actions,
    is_allowed,
    render_markdown,
    require,
    require_manage,
)
from prework.checklists.permissions import ChecklistAction
from prework.core.principal import Principal, Role
from prework.errors import Forbidden
from prework.identity.permissions import IdentityAction as Action
from prework.media.permissions import MediaAction
from prework.teams.permissions import TeamAction

DOC = Path(__file__).resolve().parents[3] / "docs" / "permissions.md"


def principal(role: Role) -> Principal:
    return Principal(user_id="u", org_id="o", role=role, session_id="s", email="e@example.com")


def _declared_areas() -> dict[str, ModuleType]:
    """Every ``prework.<area>.permissions`` module there is."""
    found = {}
    for info in pkgutil.iter_modules(prework.__path__):
        if info.ispkg and importlib.util.find_spec(f"prework.{info.name}.permissions"):
            found[info.name] = importlib.import_module(f"prework.{info.name}.permissions")
    return found


def test_every_area_s_declared_actions_are_in_the_matrix() -> None:
    declared = _declared_areas()
    assert {"identity", "audit"} <= set(declared)
    assert {name for name, _ in AREAS} == set(declared), "add the area's GRANTS to AREAS"
    for name, module in declared.items():
        enums = [
            v
            for v in vars(module).values()
            if isinstance(v, type) and issubclass(v, StrEnum) and v.__module__ == module.__name__
        ]
        assert enums, f"{name}: permissions.py declares no actions"
        for enum in enums:
            assert set(enum) <= set(module.GRANTS), f"{name}: an action without a grant"
            assert set(enum) <= set(MATRIX)


def test_every_action_of_every_area_has_a_row() -> None:
    assert set(MATRIX) == (
        set(Action) | set(AuditAction) | set(TeamAction) | set(ChecklistAction) | set(MediaAction)
    )
    assert list(MATRIX) == list(ACTIONS)
    assert len({a.value for a in ACTIONS}) == len(ACTIONS)


def test_allowed_actions_lists_the_role_s_row() -> None:
    for role in Role:
        assert allowed_actions(role) == sorted(a.value for a in ACTIONS if is_allowed(role, a))


def test_owner_may_do_everything() -> None:
    assert all(is_allowed(Role.OWNER, action) for action in ACTIONS)


def test_auditor_reads_everything_and_changes_nothing_but_their_profile() -> None:
    allowed = {a for a in ACTIONS if is_allowed(Role.AUDITOR, a)}
    reads = {a for a in ACTIONS if a.value.split(".")[1].startswith(("read", "list", "export"))}
    assert reads <= allowed
    assert allowed - reads == {Action.PROFILE_UPDATE_OWN}


def test_worker_sees_only_their_own() -> None:
    allowed = {a for a in ACTIONS if is_allowed(Role.WORKER, a)}
    assert allowed == {
        Action.ORG_READ,
        Action.PROFILE_READ_OWN,
        Action.PROFILE_UPDATE_OWN,
        TeamAction.TEAM_READ_OWN,
        # the published templates they fill in
        ChecklistAction.TEMPLATE_LIST,
        ChecklistAction.TEMPLATE_READ_PUBLISHED,
        # the assignments whose crew they are on (the service checks the crew)
        ChecklistAction.ASSIGNMENT_READ_OWN,
        ChecklistAction.ASSIGNMENT_START,
        ChecklistAction.ASSIGNMENT_WORK,
        # files of what they may read, uploads for their crews and their own avatar
        MediaAction.MEDIA_READ,
        MediaAction.MEDIA_UPLOAD,
    }


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_require_follows_the_matrix(role: Role, action: StrEnum) -> None:
    if is_allowed(role, action):
        require(principal(role), action)
    else:
        with pytest.raises(Forbidden) as info:
            require(principal(role), action)
        assert info.value.details == {"action": action.value, "role": role.value}


def test_only_owners_touch_owners() -> None:
    admin, owner = principal(Role.ADMIN), principal(Role.OWNER)
    require_manage(admin, Action.USER_CHANGE_ROLE, target_role=Role.WORKER, new_role=Role.ADMIN)
    require_manage(owner, Action.USER_CHANGE_ROLE, target_role=Role.OWNER, new_role=Role.WORKER)
    require_manage(owner, Action.USER_INVITE, new_role=Role.OWNER)
    for kwargs in (
        {"target_role": Role.OWNER, "new_role": Role.WORKER},
        {"target_role": Role.WORKER, "new_role": Role.OWNER},
    ):
        with pytest.raises(Forbidden):
            require_manage(admin, Action.USER_CHANGE_ROLE, **kwargs)
    with pytest.raises(Forbidden):
        require_manage(admin, Action.USER_DEACTIVATE, target_role=Role.OWNER)
    with pytest.raises(Forbidden):
        require_manage(admin, Action.USER_INVITE, new_role=Role.OWNER)
    with pytest.raises(Forbidden):  # the matrix first
        require_manage(principal(Role.SUPERVISOR), Action.USER_INVITE, new_role=Role.WORKER)
    with pytest.raises(ValueError, match="not an action on another member"):
        require_manage(owner, Action.ORG_READ)


def test_the_document_shows_this_matrix() -> None:
    text = DOC.read_text(encoding="utf-8")
    begin, end = "<!-- BEGIN MATRIX -->\n", "<!-- END MATRIX -->"
    shown = text[text.index(begin) + len(begin) : text.index(end)]
    assert shown == render_markdown(), (
        "docs/permissions.md is out of date: paste prework.authz.matrix.render_markdown()"
    )
