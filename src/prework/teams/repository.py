"""Every key and item shape of the teams area (table ``teams``): the only code that
knows them. See docs/data-model.md, "teams".

* team: ``ORG#<org>`` / ``TEAM#<team>``; gsi1 by status
  ``ORG#<org>#TEAMS#<status>`` / ``<name casefolded>#<team>``, or while creating
  ``TEAMS#CREATING`` / ``<created_at>#<org>#<team>`` (the sweeper's partition);
* membership: ``ORG#<org>`` / ``TEAM#<team>#MEMBER#<user>``; gsi1 while active
  ``ORG#<org>#USER#<user>`` / ``TEAM#<team>`` (a user's teams).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prework.store.base import (
    All,
    AttrEquals,
    AttrNotEquals,
    ItemExists,
    ItemNotExists,
    Key,
    Put,
    Update,
    UpdateSpec,
)
from prework.teams.models import (
    Membership,
    MembershipStatus,
    NewMember,
    Team,
    TeamRole,
    TeamStatus,
)

__all__ = [
    "CREATING_PK",
    "TEAMS",
    "activation_op",
    "archive_op",
    "creating_team_item",
    "creating_team_put",
    "is_team",
    "member_add_op",
    "member_removal_op",
    "members_prefix",
    "membership_item",
    "membership_key",
    "membership_of",
    "removal_started_op",
    "rename_op",
    "team_count_op",
    "team_key",
    "team_of",
    "team_pk",
    "teams_listing_pk",
    "user_teams_pk",
]

TEAMS = "teams"
# the one partition of gsi1 not keyed by organization: teams whose creation has not
# finished, across organizations, oldest first, so the sweeper finds abandoned ones
CREATING_PK = "TEAMS#CREATING"


def team_pk(org_id: str) -> str:
    return f"ORG#{org_id}"


def team_key(org_id: str, team_id: str) -> Key:
    return {"pk": team_pk(org_id), "sk": f"TEAM#{team_id}"}


def members_prefix(team_id: str) -> str:
    """The sort-key prefix of a team's memberships (query ``team_pk(org)``)."""
    return f"TEAM#{team_id}#MEMBER#"


def membership_key(org_id: str, team_id: str, user_id: str) -> Key:
    return {"pk": team_pk(org_id), "sk": members_prefix(team_id) + user_id}


def teams_listing_pk(org_id: str, status: TeamStatus) -> str:
    """The gsi1 partition of an organization's teams of one status, by name."""
    return f"ORG#{org_id}#TEAMS#{status.value}"


def user_teams_pk(org_id: str, user_id: str) -> str:
    """The gsi1 partition of a user's active memberships, by team id."""
    return f"ORG#{org_id}#USER#{user_id}"


def _listed(org_id: str, team_id: str, status: TeamStatus, name: str) -> dict[str, str]:
    return {
        "gsi1pk": teams_listing_pk(org_id, status),
        "gsi1sk": f"{name.casefold()}#{team_id}",
    }


def creating_team_item(
    *, org_id: str, team_id: str, name: str, created_by: str, now: str, digest: str, members: int
) -> dict[str, Any]:
    return {
        **team_key(org_id, team_id),
        "gsi1pk": CREATING_PK,
        "gsi1sk": f"{now}#{org_id}#{team_id}",
        "type": "team",
        "id": team_id,
        "org_id": org_id,
        "name": name,
        "status": TeamStatus.CREATING.value,
        "member_count": 0,
        "members_requested": members,
        "request_digest": digest,
        "created_by": created_by,
        "created_at": now,
        "updated_at": now,
        "archived_at": None,
        "version": 1,
    }


def is_team(item: Mapping[str, Any] | None) -> bool:
    return item is not None and item.get("type") == "team"


def team_of(item: Mapping[str, Any]) -> Team:
    return Team(
        id=item["id"],
        org_id=item["org_id"],
        name=item["name"],
        status=TeamStatus(item["status"]),
        member_count=int(item["member_count"]),
        created_by=item["created_by"],
        created_at=item["created_at"],
        updated_at=item["updated_at"],
        archived_at=item.get("archived_at"),
        version=int(item["version"]),
    )


def membership_item(
    *, org_id: str, team_id: str, member: NewMember, added_by: str, now: str
) -> dict[str, Any]:
    return {
        **membership_key(org_id, team_id, member.user_id),
        "gsi1pk": user_teams_pk(org_id, member.user_id),
        "gsi1sk": f"TEAM#{team_id}",
        "type": "membership",
        "team_id": team_id,
        "user_id": member.user_id,
        "org_id": org_id,
        "role": member.role.value,
        "status": MembershipStatus.ACTIVE.value,
        "added_by": added_by,
        "added_at": now,
    }


def membership_of(item: Mapping[str, Any]) -> Membership:
    return Membership(
        team_id=item["team_id"],
        user_id=item["user_id"],
        org_id=item["org_id"],
        role=TeamRole(item["role"]),
        status=MembershipStatus(item["status"]),
        added_by=item["added_by"],
        added_at=item["added_at"],
        removed_by=item.get("removed_by"),
        removed_at=item.get("removed_at"),
        removed_reason=item.get("removed_reason"),
    )


def activation_op(team: Mapping[str, Any], *, member_count: int, now: str) -> Update:
    """``creating`` -> ``active``: listed by name, out of the creating partition."""
    org_id, team_id = team["org_id"], team["id"]
    return Update(
        TEAMS,
        team_key(org_id, team_id),
        UpdateSpec(
            set={
                **_listed(org_id, team_id, TeamStatus.ACTIVE, team["name"]),
                "status": TeamStatus.ACTIVE.value,
                "member_count": member_count,
                "updated_at": now,
            },
            remove=("members_requested",),
        ),
        condition=All(ItemExists(), AttrEquals("status", TeamStatus.CREATING.value)),
    )


def removal_started_op(team: Mapping[str, Any], *, now: str) -> Update:
    """An abandoned ``creating`` team is being taken down (only if still creating)."""
    return Update(
        TEAMS,
        team_key(team["org_id"], team["id"]),
        UpdateSpec(set={"status": TeamStatus.REMOVING.value, "updated_at": now}),
        condition=All(ItemExists(), AttrEquals("status", TeamStatus.CREATING.value)),
    )


def archive_op(team: Mapping[str, Any], *, now: str) -> Update:
    org_id, team_id = team["org_id"], team["id"]
    version = int(team["version"])
    return Update(
        TEAMS,
        team_key(org_id, team_id),
        UpdateSpec(
            set={
                **_listed(org_id, team_id, TeamStatus.ARCHIVED, team["name"]),
                "status": TeamStatus.ARCHIVED.value,
                "archived_at": now,
                "updated_at": now,
                "version": version + 1,
            }
        ),
        condition=All(
            ItemExists(),
            AttrEquals("status", TeamStatus.ACTIVE.value),
            AttrEquals("version", version),
        ),
    )


def team_count_op(team: Mapping[str, Any], *, delta: int, now: str) -> Update:
    """A change of members: the count moves, the version moves on; the team must
    still be active at the version read."""
    version = int(team["version"])
    return Update(
        TEAMS,
        team_key(team["org_id"], team["id"]),
        UpdateSpec(set={"updated_at": now, "version": version + 1}, add={"member_count": delta}),
        condition=All(
            ItemExists(),
            AttrEquals("status", TeamStatus.ACTIVE.value),
            AttrEquals("version", version),
        ),
    )


def member_add_op(item: dict[str, Any]) -> Put:
    """Add (or re-add a removed) member: never over an active membership."""
    return Put(TEAMS, item, condition=AttrNotEquals("status", MembershipStatus.ACTIVE.value))


def member_removal_op(
    org_id: str, team_id: str, user_id: str, *, by: str, now: str, reason: str
) -> Update:
    """Mark an active membership removed (kept as history), out of the user's teams."""
    return Update(
        TEAMS,
        membership_key(org_id, team_id, user_id),
        UpdateSpec(
            set={
                "status": MembershipStatus.REMOVED.value,
                "removed_by": by,
                "removed_at": now,
                "removed_reason": reason,
            },
            remove=("gsi1pk", "gsi1sk"),
        ),
        condition=All(ItemExists(), AttrEquals("status", MembershipStatus.ACTIVE.value)),
    )


def creating_team_put(item: dict[str, Any]) -> Put:
    """The first write of a creation: the team, only if its id is new."""
    return Put(TEAMS, item, condition=ItemNotExists())


def rename_op(team: Mapping[str, Any], *, name: str, now: str) -> Update:
    """Rename an active team at the version read (the listing follows the name)."""
    org_id, team_id = team["org_id"], team["id"]
    version = int(team["version"])
    return Update(
        TEAMS,
        team_key(org_id, team_id),
        UpdateSpec(
            set={
                **_listed(org_id, team_id, TeamStatus.ACTIVE, name),
                "name": name,
                "updated_at": now,
                "version": version + 1,
            }
        ),
        condition=All(
            ItemExists(),
            AttrEquals("status", TeamStatus.ACTIVE.value),
            AttrEquals("version", version),
        ),
    )
