"""Listing assignments: index partitions read in due-time order and merged.

The organization's list reads gsi2; a team's, a user's own (their direct
assignments and crew entries) and "mine" (the user's partition and each of their
active teams') read gsi1, merged by sort key ``<due>#<id>`` under one cursor (the
sort key to continue after). Other filters apply while reading, at most
:data:`_READ_BUDGET` entries per request (docs/data-model.md).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from prework.authz.authorize import authorize
from prework.authz.matrix import is_allowed
from prework.checklists import work_repository as repo
from prework.checklists._work import WorkBase, aware
from prework.checklists.permissions import ChecklistAction as Action
from prework.checklists.workflow import Assignment, AssignmentState
from prework.core.clock import iso
from prework.core.paging import Paged, clamp_limit, decode_cursor, encode_cursor
from prework.core.principal import Principal, RequestContext
from prework.errors import ValidationFailed
from prework.store.base import MAX_BATCH_GET, Item

__all__ = ["AssignmentFilter", "AssignmentListing", "Scope"]

# a listing reads at most this many index entries per request before it answers with
# what it found and a cursor (so a filter that matches little never reads a whole index)
_READ_BUDGET: Final = 1_000
_BATCH: Final = 100


class Scope:
    MINE = "mine"
    ORG = "org"


@dataclass(frozen=True, slots=True)
class AssignmentFilter:
    scope: str | None = None  # None: org for those who read every assignment, else mine
    team_id: str | None = None
    states: frozenset[AssignmentState] = frozenset()
    template_id: str | None = None
    job_ref: str | None = None
    due_from: datetime | None = None
    due_to: datetime | None = None

    def keeps(self, item: Mapping[str, Any]) -> bool:
        if self.states and AssignmentState(item["state"]) not in self.states:
            return False
        if self.template_id is not None and item["template_id"] != self.template_id:
            return False
        return self.job_ref is None or item["job_ref"] == self.job_ref


@dataclass(frozen=True, slots=True)
class _Sources:
    """The index partitions a listing reads as one sequence (a merged query)."""

    index: str
    pks: tuple[str, ...]


def _cursor_after(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    data = decode_cursor(cursor)
    after = data.get("after")
    if not isinstance(after, str) or not 0 < len(after) <= 200 or not after.isprintable():
        raise ValidationFailed("The cursor is not valid.", code="invalid_cursor")
    try:
        after.encode()
    except UnicodeEncodeError:  # a lone surrogate: no sort key
        raise ValidationFailed("The cursor is not valid.", code="invalid_cursor") from None
    return after


class AssignmentListing(WorkBase):
    async def list(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        where: AssignmentFilter,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Paged[Assignment]:
        """Assignments by due time (then id): the organization's, a team's, or the
        caller's own (assigned to them or their teams, or with them on the crew)."""
        org, user = principal.org_id, principal.user_id
        wanted = clamp_limit(limit)
        after = _cursor_after(cursor)
        reads_all = is_allowed(principal.role, Action.ASSIGNMENT_READ)
        scope = where.scope or (Scope.ORG if reads_all else Scope.MINE)
        keep: Callable[[Item], bool] = where.keeps
        covered: frozenset[str] = frozenset()
        if scope == Scope.ORG:
            await authorize(self.store, principal, ctx, Action.ASSIGNMENT_READ)
            if where.team_id is not None:
                sources = _Sources("gsi1", (repo.assignee_pk(org, where.team_id),))
            else:
                sources = _Sources("gsi2", (repo.org_listing_pk(org),))
        else:
            await authorize(self.store, principal, ctx, Action.ASSIGNMENT_READ_OWN)
            teams = await self.teams.active_team_ids(org, user)
            if where.team_id is not None:
                if where.team_id not in teams:
                    return Paged([], None)
                sources = _Sources("gsi1", (repo.assignee_pk(org, where.team_id),))
            else:
                sources = _Sources("gsi1", tuple(repo.assignee_pk(org, a) for a in (user, *teams)))
                covered = frozenset(teams)  # their crew entries: read in the team's own

            def keep(item: Item) -> bool:
                crew = item.get("crew")
                mine = user in crew if crew is not None else True  # not started: assignee
                return mine and where.keeps(item)

        lo = aware(where.due_from) if where.due_from is not None else None
        hi = f"{aware(where.due_to)}#~" if where.due_to is not None else None
        if lo is not None and hi is not None and lo > hi:
            raise ValidationFailed("due_from is after due_to.", code="invalid_filter")
        items, next_after = await self._merged(
            sources,
            lo=lo,
            hi=hi,
            after=after,
            want=wanted,
            keep=keep,
            org_id=org,
            covered=covered,
        )
        return Paged(
            [repo.assignment_of(i) for i in items],
            encode_cursor({"after": next_after}) if next_after is not None else None,
        )

    async def _resolved(
        self, rows: builtins.list[Item], org_id: str, covered: frozenset[str]
    ) -> builtins.list[tuple[Item, Item | None]]:
        """Each row with its assignment: itself, or for a crew entry the assignment
        it points to (read by key), except for the crew entries of an assignee in
        ``covered`` (another partition of the listing holds those): None."""
        ids = sorted(
            {
                i["assignment_id"]
                for i in rows
                if i.get("type") == "crew_entry" and i.get("assignee_id") not in covered
            }
        )
        found: dict[str, Item] = {}
        for start in range(0, len(ids), MAX_BATCH_GET):
            keys = [repo.assignment_key(org_id, a) for a in ids[start : start + MAX_BATCH_GET]]
            for item in await self.store.batch_get(repo.ASSIGNMENTS, keys):
                found[item["id"]] = item
        out: builtins.list[tuple[Item, Item | None]] = []
        for raw in rows:
            got = found.get(raw["assignment_id"]) if raw.get("type") == "crew_entry" else raw
            out.append((raw, got if repo.is_assignment(got, org_id) else None))
        return out

    async def _merged(
        self,
        sources: _Sources,
        *,
        lo: str | None,
        hi: str | None,
        after: str | None,
        want: int,
        keep: Callable[[Item], bool],
        org_id: str,
        covered: frozenset[str] = frozenset(),
    ) -> tuple[builtins.list[Item], str | None]:
        """Up to ``want`` kept assignments of the sources' partitions, merged by
        sort key, after ``after``; and the sort key to continue after (None:
        nothing more). One merged query reads them, a batch at a time."""
        sk_attr = f"{sources.index}sk"
        out: builtins.list[Item] = []
        seen: set[str] = set()
        examined = 0
        cursor: str | None = None
        while True:
            # a little more than the page still needs: some rows are not kept
            size = min(_BATCH, 2 * (want - len(out)) + 2)
            page = await self.store.query_merged(
                repo.ASSIGNMENTS,
                index=sources.index,
                pks=sources.pks,
                sk_gte=lo,
                sk_after=after,
                sk_lte=hi,
                limit=size,
                cursor=cursor,
            )
            rows = await self._resolved(page.items, org_id, covered)
            for n, (raw, item) in enumerate(rows, 1):
                examined += 1
                if item is not None and item["id"] not in seen and keep(item):
                    seen.add(item["id"])
                    out.append(item)
                if len(out) >= want or examined >= _READ_BUDGET:
                    more = n < len(rows) or page.cursor is not None
                    return out, (str(raw[sk_attr]) if more else None)
            if page.cursor is None:
                return out, None
            cursor = page.cursor

    # ------------------------------------------------------------------ certifications
    async def certifications_changed(self, org_id: str, user_id: str) -> None:
        """A crew member's certifications changed: announce ``clearance.changed`` for
        each approved, not voided assignment they are on (its clearance is computed
        when asked, so only the notice is due)."""
        teams = await self.teams.active_team_ids(org_id, user_id)
        sources = _Sources("gsi1", tuple(repo.assignee_pk(org_id, a) for a in (user_id, *teams)))

        def approved_with_me(item: Item) -> bool:
            return (
                item.get("state") == AssignmentState.APPROVED.value
                and user_id in (item.get("crew") or ())
                and item.get("voided") is None
            )

        # a clearance holds at most 30 days from the planned date: older jobs are done
        lo = iso(self.clock() - 31 * 86_400)
        after: str | None = None
        while True:
            items, after = await self._merged(
                sources,
                lo=lo,
                hi=None,
                after=after,
                want=100,
                keep=approved_with_me,
                org_id=org_id,
                covered=frozenset(teams),
            )
            for item in items:
                await self._announce(
                    org_id,
                    "clearance.changed",
                    assignment_id=item["id"],
                    cleared=None,
                    reason="certifications",
                    user_id=user_id,
                )
            if after is None:
                return
