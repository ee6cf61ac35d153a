"""The teams area's records and pure rules (no I/O).

A team is ``creating`` while its memberships are being written (invisible to
readers), then ``active``; an archived team is read-only. A membership is
``active`` or ``removed`` (kept, with who removed it and when: the history).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import orjson

__all__ = [
    "MAX_CHANGE_MEMBERS",
    "MAX_CREATE_MEMBERS",
    "Membership",
    "MembershipStatus",
    "NewMember",
    "Team",
    "TeamRole",
    "TeamStatus",
    "creation_digest",
    "duplicate_ids",
]

# a creation writes its memberships in batches (resumable); a change of members is
# one transaction with the team and its audit event (at most 100 operations)
MAX_CREATE_MEMBERS = 1000
MAX_CHANGE_MEMBERS = 50


class TeamRole(StrEnum):
    LEAD = "lead"
    MEMBER = "member"


class TeamStatus(StrEnum):
    CREATING = "creating"
    ACTIVE = "active"
    ARCHIVED = "archived"
    REMOVING = "removing"  # an abandoned creation being taken down


class MembershipStatus(StrEnum):
    ACTIVE = "active"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class NewMember:
    user_id: str
    role: TeamRole = TeamRole.MEMBER


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    org_id: str
    name: str
    status: TeamStatus
    member_count: int
    created_by: str
    created_at: str
    updated_at: str
    archived_at: str | None
    version: int


@dataclass(frozen=True, slots=True)
class Membership:
    team_id: str
    user_id: str
    org_id: str
    role: TeamRole
    status: MembershipStatus
    added_by: str
    added_at: str
    removed_by: str | None = None
    removed_at: str | None = None
    removed_reason: str | None = None


def duplicate_ids(ids: Sequence[str]) -> list[str]:
    """The ids that appear more than once in ``ids``, in first-seen order."""
    seen: set[str] = set()
    dupes: dict[str, None] = {}
    for one in ids:
        if one in seen:
            dupes[one] = None
        seen.add(one)
    return list(dupes)


def creation_digest(name: str, members: Sequence[NewMember]) -> str:
    """A fingerprint of a creation request: a retry under the same idempotency key
    must ask for the same team (same name, same members and roles, in any order)."""
    body = {"name": name, "members": sorted((m.user_id, m.role.value) for m in members)}
    return hashlib.sha256(orjson.dumps(body)).hexdigest()
