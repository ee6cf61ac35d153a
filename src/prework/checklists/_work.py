"""What the assignment, answer and review services share: the ports, the other
areas' services they ask, reads with their access rules, audit events, bus events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import structlog

from prework.authz.authorize import authorize
from prework.authz.matrix import is_allowed
from prework.checklists import work_repository as repo
from prework.checklists.answers import ItemProblem, media_uses
from prework.checklists.permissions import ChecklistAction as Action
from prework.checklists.templates import TemplateService
from prework.checklists.workflow import Assignment
from prework.core import audit
from prework.core.audit import SYSTEM, Actor
from prework.core.clock import Clock, iso, iso_of, system_clock
from prework.core.principal import Principal, RequestContext
from prework.core.versioned import UNVERSIONED_ATTEMPTS, keeps_changing
from prework.errors import (
    NotFound,
    PreworkError,
    TransactionCanceled,
    ValidationFailed,
    WriteConflict,
)
from prework.identity.orgs import OrgService
from prework.identity.profiles import ProfileService
from prework.media import lookup as media_lookup
from prework.pubsub.base import PubSub, org_topic
from prework.store.base import Store, TransactOp
from prework.teams.service import TeamService

__all__ = ["TARGET", "Raced", "WorkBase", "aware", "not_found"]

log = structlog.get_logger("prework.checklists")

T = TypeVar("T")
TARGET = "assignment"


def aware(value: datetime) -> str:
    """A time with a zone as stored (fixed-width UTC text); 422 ``invalid_time`` for
    one without a zone or outside the calendar once in UTC."""
    if value.tzinfo is None:
        raise ValidationFailed("Times carry a time zone.", code="invalid_time")
    try:
        return iso_of(value)
    except (OverflowError, ValueError) as exc:  # in UTC, before year 1 or after 9999
        raise ValidationFailed("The time is out of range.", code="invalid_time") from exc


def not_found() -> NotFound:
    return NotFound("No such assignment.", code="not_found")


class Raced(Exception):
    """Another change landed between a read and the write planned on it."""


class WorkBase:
    def __init__(
        self,
        store: Store,
        pubsub: PubSub,
        *,
        templates: TemplateService,
        teams: TeamService,
        profiles: ProfileService,
        orgs: OrgService,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.pubsub = pubsub
        self.templates = templates
        self.teams = teams
        self.profiles = profiles
        self.orgs = orgs
        self.clock = clock

    def now(self) -> str:
        return iso(self.clock())

    # ------------------------------------------------------------------ reads
    async def _item(self, org_id: str, assignment_id: str) -> dict[str, Any]:
        item = await self.store.get(repo.ASSIGNMENTS, repo.assignment_key(org_id, assignment_id))
        if not repo.is_assignment(item, org_id):
            raise not_found()
        assert item is not None
        return item

    async def _doc(self, org_id: str, assignment_id: str) -> dict[str, Any]:
        item = await self.store.get(repo.ASSIGNMENTS, repo.doc_key(org_id, assignment_id))
        if item is None:  # written with the assignment: never missing
            raise not_found()
        return item

    async def may_see(self, principal: Principal, assignment: Assignment) -> bool:
        """Whether a member who may not read every assignment sees this one: on its
        fixed crew once started, else its assignee or a member of its team."""
        user = principal.user_id
        if assignment.crew is not None:
            return user in assignment.crew
        if assignment.assignee.type == "user":
            return assignment.assignee.id == user
        return await self.teams.is_active_member(principal.org_id, assignment.assignee.id, user)

    async def _readable(
        self, principal: Principal, ctx: RequestContext, assignment_id: str
    ) -> dict[str, Any]:
        """The assignment, for whoever may read every one or is on it (else not found)."""
        target = {"target_type": TARGET, "target_id": assignment_id}
        if is_allowed(principal.role, Action.ASSIGNMENT_READ):
            await authorize(self.store, principal, ctx, Action.ASSIGNMENT_READ, **target)
            return await self._item(principal.org_id, assignment_id)
        await authorize(self.store, principal, ctx, Action.ASSIGNMENT_READ_OWN, **target)
        item = await self._item(principal.org_id, assignment_id)
        if not await self.may_see(principal, repo.assignment_of(item)):
            raise not_found()
        return item

    async def _authorized(
        self, principal: Principal, ctx: RequestContext, action: Action, assignment_id: str
    ) -> dict[str, Any]:
        """The assignment, after ``action`` is allowed on it; a member who may not read
        every assignment must see it (else not found)."""
        await authorize(
            self.store, principal, ctx, action, target_type=TARGET, target_id=assignment_id
        )
        item = await self._item(principal.org_id, assignment_id)
        if not is_allowed(principal.role, Action.ASSIGNMENT_READ) and not await self.may_see(
            principal, repo.assignment_of(item)
        ):
            raise not_found()
        return item

    async def media_problems(
        self,
        org_id: str,
        assignment_id: str,
        definition: Mapping[str, Any],
        values: Mapping[str, Any],
    ) -> list[ItemProblem]:
        """The photo and signature answers among ``values`` ({item_id: value}) that
        name a file they may not (see :mod:`prework.media.lookup`), in item order."""
        uses = media_uses(definition, values)
        if not uses:
            return []
        found = await media_lookup.usage_problems(self.store, org_id, assignment_id, uses)
        return [
            ItemProblem(item_id, p.code, f"{p.message} ({p.media_id})")
            for item_id, p in found.items()
        ]

    # ------------------------------------------------------------------ writes
    async def _retrying(self, attempt: Callable[[], Awaitable[T]], what: str) -> T:
        """Run ``attempt`` (read, plan, one conditional transaction) again while another
        change lands between its read and its write: :class:`Raced` from the attempt,
        or the store's ``WriteConflict``."""
        for _ in range(UNVERSIONED_ATTEMPTS):
            try:
                return await attempt()
            except (Raced, WriteConflict):
                continue
        raise keeps_changing(what)

    async def _write(self, ops: list[TransactOp]) -> None:
        """One transaction whose conditions encode what was read: a failed condition
        means another change landed (:class:`Raced`)."""
        try:
            await self.store.transact_write(ops)
        except TransactionCanceled as exc:
            raise Raced() from exc

    def _event(
        self,
        principal: Principal | None,
        ctx: RequestContext,
        org_id: str,
        action: str,
        target_id: str,
        *,
        target_type: str = TARGET,
        changes: Mapping[str, Mapping[str, Any]] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> TransactOp:
        return audit.event_op(
            org_id=org_id,
            action=action,
            actor=Actor.of(principal) if principal is not None else SYSTEM,
            ctx=ctx,
            target_type=target_type,
            target_id=target_id,
            changes=changes,
            details=details,
            clock=self.clock,
        )

    async def _announce(self, org_id: str, kind: str, **data: Any) -> None:
        """A past-tense event on the organization's topic, after the commit (a lost
        notification is logged: the change stands)."""
        event = {"type": kind, "org_id": org_id, "at": self.now(), **data}
        try:
            await self.pubsub.publish(org_topic(org_id), event)
        except PreworkError:
            log.exception("publish_failed", event_type=kind)
