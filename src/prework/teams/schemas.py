"""Request and response models of the teams routes (``/api/teams``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from prework.http.schemas import Name, Page, Strict, Version
from prework.teams.models import (
    MAX_CHANGE_MEMBERS,
    MAX_CREATE_MEMBERS,
    Membership,
    MembershipStatus,
    NewMember,
    Team,
    TeamRole,
    TeamStatus,
)

# a member's id as the API hands it out (32 hex digits; a little slack, as PathId)
UserId = Annotated[str, StringConstraints(min_length=1, max_length=64)]

_USER = "3f2a9c0e5b7d4e1f8a6b2c9d0e1f2a3b"


class MemberIn(Strict):
    user_id: UserId
    role: TeamRole = TeamRole.MEMBER

    def model(self) -> NewMember:
        return NewMember(user_id=self.user_id, role=self.role)


class TeamCreate(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Night shift, hall 3",
                    "members": [{"user_id": _USER, "role": "lead"}],
                }
            ]
        },
    )

    name: Name
    members: list[MemberIn] = Field(default_factory=list, max_length=MAX_CREATE_MEMBERS)


class TeamUpdate(Strict):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Day shift", "version": 3}]}
    )

    name: Name
    version: Version = None


class MembersAdd(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"members": [{"user_id": _USER, "role": "member"}]}]},
    )

    members: list[MemberIn] = Field(min_length=1, max_length=MAX_CHANGE_MEMBERS)


class MembersRemove(Strict):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"user_ids": [_USER]}]}
    )

    user_ids: list[UserId] = Field(min_length=1, max_length=MAX_CHANGE_MEMBERS)


class TeamRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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

    @classmethod
    def of(cls, team: Team) -> TeamRead:
        return cls.model_validate(team)


class MemberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: str
    role: TeamRole
    status: MembershipStatus
    added_by: str
    added_at: str

    @classmethod
    def of(cls, membership: Membership) -> MemberRead:
        return cls.model_validate(membership)


class TeamWithMembers(TeamRead):
    members: Page[MemberRead]
