"""The teams routes: ``/api/teams``.

:data:`router` holds them all (what :mod:`prework.app` mounts).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, Response, status

from prework.core.paging import Paged
from prework.http.bodies import body_bounds
from prework.http.deps import area_services
from prework.http.pages import page_answer
from prework.http.routing import APIRouter
from prework.http.schemas import Cursor, Limit, Page, PathId, VersionBody
from prework.http.security import Ctx, CurrentPrincipal
from prework.http.versioning import expected_version, set_etag
from prework.teams.models import MAX_CREATE_MEMBERS, Membership, Team, TeamStatus
from prework.teams.schemas import (
    MemberRead,
    MembersAdd,
    MembersRemove,
    TeamCreate,
    TeamRead,
    TeamUpdate,
    TeamWithMembers,
)
from prework.teams.services import Teams

# the page models of this module's listings (parametrized once, not per request)
MemberPage = Page[MemberRead]
TeamPage = Page[TeamRead]

__all__ = ["router"]

TeamsDep = Annotated[Teams, Depends(area_services("teams", Teams))]

router = APIRouter(prefix="/api/teams", tags=["teams"])


def _read(response: Response, team: Team) -> TeamRead:
    set_etag(response, team.version)
    return TeamRead.of(team)


def _members(page: Paged[Membership]) -> MemberPage:
    return MemberPage.of(page)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a team with its members (owner/admin/supervisor); send Idempotency-Key "
    "to make a retry finish the same team",
)
# each member is an object of two keys: a full team is ~2,000 keys and, at up to
# ~100 bytes a member, ~100 KB
@body_bounds(keys=2 * MAX_CREATE_MEMBERS + 16, max_bytes=256 * 1024)
async def create_team(
    body: TeamCreate, principal: CurrentPrincipal, teams: TeamsDep, ctx: Ctx, response: Response
) -> TeamRead:
    team = await teams.teams.create(
        principal=principal, ctx=ctx, name=body.name, members=[m.model() for m in body.members]
    )
    return _read(response, team)


@router.get(
    "",
    response_model=TeamPage,
    summary="List the organization's teams by name, or a user's active teams",
)
async def list_teams(
    principal: CurrentPrincipal,
    teams: TeamsDep,
    ctx: Ctx,
    status: TeamStatus = TeamStatus.ACTIVE,
    user_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Response:
    page = await teams.teams.list(
        principal=principal, ctx=ctx, status=status, user_id=user_id, limit=limit, cursor=cursor
    )
    return page_answer(TeamPage, page)


@router.get("/{team_id}", summary="One team with the first page of its active members")
async def get_team(
    team_id: PathId,
    principal: CurrentPrincipal,
    teams: TeamsDep,
    ctx: Ctx,
    response: Response,
    limit: Limit = None,
    cursor: Cursor = None,
) -> TeamWithMembers:
    team = await teams.teams.get(principal=principal, ctx=ctx, team_id=team_id)
    page = await teams.teams.members(
        principal=principal, ctx=ctx, team_id=team_id, limit=limit, cursor=cursor
    )
    read = _read(response, team)
    return TeamWithMembers(**read.model_dump(), members=_members(page))


@router.patch("/{team_id}", summary="Rename a team (If-Match or version for optimistic locking)")
async def update_team(
    team_id: PathId,
    body: TeamUpdate,
    principal: CurrentPrincipal,
    teams: TeamsDep,
    ctx: Ctx,
    request: Request,
    response: Response,
) -> TeamRead:
    team = await teams.teams.rename(
        principal=principal,
        ctx=ctx,
        team_id=team_id,
        name=body.name,
        expected_version=expected_version(request, body.version),
    )
    return _read(response, team)


@router.get("/{team_id}/members", summary="A page of a team's active members, by user id")
async def list_members(
    team_id: PathId,
    principal: CurrentPrincipal,
    teams: TeamsDep,
    ctx: Ctx,
    limit: Limit = None,
    cursor: Cursor = None,
) -> MemberPage:
    page = await teams.teams.members(
        principal=principal, ctx=ctx, team_id=team_id, limit=limit, cursor=cursor
    )
    return _members(page)


@router.post("/{team_id}/members", summary="Add 1..50 members (one transaction)")
async def add_members(
    team_id: PathId,
    body: MembersAdd,
    principal: CurrentPrincipal,
    teams: TeamsDep,
    ctx: Ctx,
    response: Response,
) -> TeamRead:
    team = await teams.teams.add_members(
        principal=principal, ctx=ctx, team_id=team_id, members=[m.model() for m in body.members]
    )
    return _read(response, team)


@router.delete(
    "/{team_id}/members",
    summary="Remove 1..50 members from the active roster (their memberships stay, removed)",
)
async def remove_members(
    team_id: PathId,
    body: MembersRemove,
    principal: CurrentPrincipal,
    teams: TeamsDep,
    ctx: Ctx,
    response: Response,
) -> TeamRead:
    team = await teams.teams.remove_members(
        principal=principal, ctx=ctx, team_id=team_id, user_ids=body.user_ids
    )
    return _read(response, team)


@router.post("/{team_id}/archive", summary="Archive a team (read-only from then on)")
async def archive_team(
    team_id: PathId,
    principal: CurrentPrincipal,
    teams: TeamsDep,
    ctx: Ctx,
    request: Request,
    response: Response,
    body: VersionBody | None = None,
) -> TeamRead:
    team = await teams.teams.archive(
        principal=principal,
        ctx=ctx,
        team_id=team_id,
        expected_version=expected_version(request, body.version if body else None),
    )
    return _read(response, team)
