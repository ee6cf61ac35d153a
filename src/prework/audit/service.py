"""The audit log: one event per state change, written in the change's transaction.

A service that changes state builds its writes as transaction ops and adds
:func:`event_op` for each event, then calls ``store.transact_write`` once: the
change and its event are stored together or not at all. Failures that change
nothing (a failed login, a denied request) are recorded on their own with
:func:`record`.

Events are never updated or deleted; :func:`event_op` writes with
``ItemNotExists`` so not even a colliding id could overwrite one.

Storage (table ``audit-log``): ``pk=ORG#<org>``, ``sk=<time>#<event id>``
(time is fixed-width UTC ISO 8601, so the sort key orders by time);
``gsi1`` by actor, ``gsi2`` by target, ``gsi3`` by action, each with the same
sort key. Events that belong to no organization (a failed login for an email
nobody registered) go to the partition of :data:`~prework.domain.identity.SYSTEM_ORG`,
which no route reads.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prework.domain import permissions
from prework.domain.identity import ActorType, Principal, RequestContext, Role
from prework.domain.permissions import Action
from prework.errors import Forbidden, ValidationFailed
from prework.services import keys
from prework.services.common import (
    Clock,
    Paged,
    clamp_limit,
    decode_cursor,
    encode_cursor,
    iso,
    iso_of,
    new_id,
    system_clock,
)
from prework.store.base import ItemNotExists, Put, Store

__all__ = [
    "ANONYMOUS",
    "SYSTEM",
    "Actor",
    "AuditEvent",
    "AuditFilter",
    "diff",
    "event_op",
    "list",
    "record",
    "require",
    "require_manage",
]

MAX_USER_AGENT = 512
# field names that must never reach the audit log (values would be secrets)
_SECRET_FIELDS = frozenset(
    {"password", "password_hash", "refresh_hash", "prev_refresh_hashes", "token", "token_hash"}
)
_SCAN_PAGES = 10  # store pages one listing call may read while filtering
# the sort key of an event (keys.audit_sk): fixed-width UTC time, '#', event id
_EVENT_SK = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z#[0-9a-f]{32}", re.ASCII)


@dataclass(frozen=True, slots=True)
class Actor:
    type: ActorType
    id: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(ActorType.USER, principal.user_id)


ANONYMOUS = Actor(ActorType.ANONYMOUS)
SYSTEM = Actor(ActorType.SYSTEM, "system")


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: str
    org_id: str
    at: str
    action: str
    outcome: str
    actor_type: str
    actor_id: str | None
    target_type: str | None
    target_id: str | None
    changes: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor_id: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{field: {"old": ..., "new": ...}}`` for the fields of ``new`` that differ."""
    return {
        name: {"old": old.get(name), "new": value}
        for name, value in new.items()
        if old.get(name) != value
    }


def event_op(
    *,
    org_id: str,
    action: str,
    actor: Actor,
    ctx: RequestContext,
    target_type: str | None = None,
    target_id: str | None = None,
    changes: Mapping[str, Mapping[str, Any]] | None = None,
    details: Mapping[str, Any] | None = None,
    outcome: str = "success",
    clock: Clock = system_clock,
) -> Put:
    """The transaction op that stores one audit event."""
    changes = dict(changes or {})
    leaked = _SECRET_FIELDS & (set(changes) | set(details or {}))
    if leaked:  # a bug in the caller, never user input
        raise ValueError(f"secret fields must not be audited: {sorted(leaked)}")
    if (target_type is None) != (target_id is None):
        raise ValueError("target_type and target_id go together")
    event_id = new_id()
    at = iso(clock())
    sk = keys.audit_sk(at, event_id)
    item: dict[str, Any] = {
        "pk": keys.org_pk(org_id),
        "sk": sk,
        "id": event_id,
        "org_id": org_id,
        "at": at,
        "action": action,
        "outcome": outcome,
        "actor_type": actor.type.value,
        "actor_id": actor.id,
        "target_type": target_type,
        "target_id": target_id,
        "changes": changes,
        "details": dict(details or {}),
        "request_id": ctx.request_id,
        "client_ip": ctx.client_ip,
        "user_agent": (ctx.user_agent or "")[:MAX_USER_AGENT] or None,
        "gsi3pk": keys.audit_action_pk(org_id, action),
        "gsi3sk": sk,
    }
    if actor.id is not None:
        item["gsi1pk"] = keys.audit_actor_pk(org_id, actor.id)
        item["gsi1sk"] = sk
    if target_type is not None and target_id is not None:
        item["gsi2pk"] = keys.audit_target_pk(org_id, target_type, target_id)
        item["gsi2sk"] = sk
    return Put(keys.AUDIT, item, condition=ItemNotExists())


async def record(store: Store, **kwargs: Any) -> None:
    """Store one event on its own (for outcomes that change nothing else)."""
    op = event_op(**kwargs)
    await store.put(op.table, op.item, condition=op.condition)


async def _denied(
    store: Store,
    principal: Principal,
    ctx: RequestContext,
    action: Action,
    exc: Forbidden,
    target_type: str | None,
    target_id: str | None,
) -> None:
    await record(
        store,
        org_id=principal.org_id,
        action="access.denied",
        actor=Actor.of(principal),
        ctx=ctx,
        target_type=target_type,
        target_id=target_id,
        outcome="denied",
        details={"permission": action.value, "role": principal.role.value, "reason": exc.message},
    )


async def require(
    store: Store,
    principal: Principal,
    ctx: RequestContext,
    action: Action,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
) -> None:
    """:func:`prework.domain.permissions.require`, auditing a denial (``access.denied``)."""
    try:
        permissions.require(principal, action)
    except Forbidden as exc:
        await _denied(store, principal, ctx, action, exc, target_type, target_id)
        raise


async def require_manage(
    store: Store,
    principal: Principal,
    ctx: RequestContext,
    action: Action,
    *,
    target_role: Role | None = None,
    new_role: Role | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
) -> None:
    """:func:`prework.domain.permissions.require_manage`, auditing a denial."""
    try:
        permissions.require_manage(principal, action, target_role=target_role, new_role=new_role)
    except Forbidden as exc:
        await _denied(store, principal, ctx, action, exc, target_type, target_id)
        raise


def _bound(moment: datetime, name: str) -> str:
    try:
        return iso_of(moment)
    except (OverflowError, ValueError) as exc:
        raise ValidationFailed(
            f"{name} must be between the years 1 and 9999 in UTC.",
            code="invalid_filter",
            details={"field": name},
        ) from exc


def _event(item: Mapping[str, Any]) -> AuditEvent:
    return AuditEvent(
        id=item["id"],
        org_id=item["org_id"],
        at=item["at"],
        action=item["action"],
        outcome=item.get("outcome", "success"),
        actor_type=item["actor_type"],
        actor_id=item.get("actor_id"),
        target_type=item.get("target_type"),
        target_id=item.get("target_id"),
        changes=dict(item.get("changes") or {}),
        details=dict(item.get("details") or {}),
        request_id=item.get("request_id"),
        client_ip=item.get("client_ip"),
        user_agent=item.get("user_agent"),
    )


def _matches(item: Mapping[str, Any], f: AuditFilter) -> bool:
    return (
        (f.actor_id is None or item.get("actor_id") == f.actor_id)
        and (f.action is None or item.get("action") == f.action)
        and (f.target_type is None or item.get("target_type") == f.target_type)
        and (f.target_id is None or item.get("target_id") == f.target_id)
    )


async def list(
    store: Store,
    *,
    principal: Principal,
    ctx: RequestContext,
    filters: AuditFilter,
    limit: int | None = None,
    cursor: str | None = None,
) -> Paged[AuditEvent]:
    """Events of the principal's organization, newest first.

    The most selective index serves the query (target, then actor, then
    action); other filters are applied while reading, and the time range
    bounds the sort key. The cursor is the sort key of the last event read, so
    a page may hold fewer than ``limit`` events and still have a next page.
    """
    await require(store, principal, ctx, Action.AUDIT_READ)
    size = clamp_limit(limit)
    if filters.target_id is not None and filters.target_type is None:
        raise ValidationFailed("target_id needs target_type.", code="invalid_filter")
    org = principal.org_id
    index: str | None
    if filters.target_type is not None and filters.target_id is not None:
        index, pk = "gsi2", keys.audit_target_pk(org, filters.target_type, filters.target_id)
    elif filters.actor_id is not None:
        index, pk = "gsi1", keys.audit_actor_pk(org, filters.actor_id)
    elif filters.action is not None:
        index, pk = "gsi3", keys.audit_action_pk(org, filters.action)
    else:
        index, pk = None, keys.org_pk(org)

    sk_gte = _bound(filters.since, "since") if filters.since else None
    sk_lte = _bound(filters.until, "until") + "#~" if filters.until else None
    if sk_gte is not None and sk_lte is not None and sk_gte > sk_lte:
        raise ValidationFailed("since is after until.", code="invalid_filter")
    after: str | None = None
    if cursor is not None:
        data = decode_cursor(cursor)
        after = data.get("sk")
        # a position in this partition, as made by this function: nothing else
        # (an arbitrary string would reach the engine, whose key rules differ)
        if not isinstance(after, str) or not _EVENT_SK.fullmatch(after):
            raise ValidationFailed("The cursor is not valid.", code="invalid_cursor")
        sk_lte = after if sk_lte is None else min(sk_lte, after)
        if sk_gte is not None and sk_lte < sk_gte:
            return Paged([], None)  # the cursor is past the end of the range

    found: builtins.list[AuditEvent] = []
    last_read: str | None = None
    last_found = ""
    store_cursor: str | None = None
    for _ in range(_SCAN_PAGES):
        page = await store.query(
            keys.AUDIT,
            pk=pk,
            index=index,
            sk_gte=sk_gte,
            sk_lte=sk_lte,
            limit=size + 1,
            cursor=store_cursor,
            descending=True,
        )
        for item in page.items:
            sk = item["sk"]
            if after is not None and sk >= after:
                continue  # the cursor's own event (bounds are inclusive)
            if item.get("org_id") != org:  # defence in depth: never another org's event
                continue
            if _matches(item, filters):
                if len(found) == size:  # one more exists: the page is full
                    return Paged(found, encode_cursor({"sk": last_found}))
                found.append(_event(item))
                last_found = sk
            last_read = sk
        store_cursor = page.cursor
        if store_cursor is None:
            return Paged(found, None)
    return Paged(found, encode_cursor({"sk": last_read}) if last_read else None)
