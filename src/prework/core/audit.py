"""The audit writer: one event per state change, written in the change's transaction.

A service that changes state builds its writes as transaction ops, adds
:func:`event_op` for each event and calls ``store.transact_write`` once: the
change and its event are stored together or not at all. Outcomes that change
nothing else (a failed login, a denied request) are stored with :func:`record`.

Events are never updated or deleted; :func:`event_op` writes with
``ItemNotExists`` so not even a colliding id could overwrite one.

Storage (table ``audit-log``, the key shapes below are the only ones):
``pk=ORG#<org>``, ``sk=<time>#<event id>`` (time is fixed-width UTC ISO 8601,
so the sort key orders by time); ``gsi1`` by actor, ``gsi2`` by target,
``gsi3`` by action, each with the same sort key. Events that belong to no
organization go to the partition of :data:`~prework.core.principal.SYSTEM_ORG`,
which no route reads. Reading the log is the audit area's
(:mod:`prework.audit.service`); this module imports no area, so every area and
the permission check can write events.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from prework.core.clock import Clock, iso, system_clock
from prework.core.ids import new_id
from prework.core.principal import ActorType, Principal, RequestContext
from prework.store.base import ItemNotExists, Put, Store

__all__ = [
    "ANONYMOUS",
    "AUDIT_TABLE",
    "MAX_USER_AGENT",
    "SYSTEM",
    "Actor",
    "action_pk",
    "actor_pk",
    "diff",
    "event_op",
    "is_event_sk",
    "org_pk",
    "record",
    "target_pk",
    "user_agent",
]

AUDIT_TABLE = "audit-log"
MAX_USER_AGENT = 512
# field names that must never reach the audit log (values would be secrets)
_SECRET_FIELDS = frozenset(
    {"password", "password_hash", "refresh_hash", "prev_refresh_hashes", "token", "token_hash"}
)


@dataclass(frozen=True, slots=True)
class Actor:
    type: ActorType
    id: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(ActorType.USER, principal.user_id)

    @classmethod
    def of_user(cls, user_id: str) -> Actor:
        return cls(ActorType.USER, user_id)


ANONYMOUS = Actor(ActorType.ANONYMOUS)
SYSTEM = Actor(ActorType.SYSTEM, "system")


# --------------------------------------------------------------------------- key shapes
def org_pk(org_id: str) -> str:
    return f"ORG#{org_id}"


def actor_pk(org_id: str, actor_id: str) -> str:
    return f"ORG#{org_id}#ACTOR#{actor_id}"


def target_pk(org_id: str, target_type: str, target_id: str) -> str:
    return f"ORG#{org_id}#TARGET#{target_type}#{target_id}"


def action_pk(org_id: str, action: str) -> str:
    return f"ORG#{org_id}#ACTION#{action}"


# the sort key of an event: fixed-width UTC time, '#', event id
_EVENT_SK = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z#[0-9a-f]{32}", re.ASCII)


def _sk(at: str, event_id: str) -> str:
    return f"{at}#{event_id}"


def is_event_sk(value: object) -> TypeGuard[str]:
    """Whether ``value`` is the sort key of an event (a position in the log)."""
    return isinstance(value, str) and _EVENT_SK.fullmatch(value) is not None


# --------------------------------------------------------------------------- writing
def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{field: {"old": ..., "new": ...}}`` for the fields of ``new`` that differ."""
    return {
        name: {"old": old.get(name), "new": value}
        for name, value in new.items()
        if old.get(name) != value
    }


def user_agent(ctx: RequestContext) -> str | None:
    """The request's user agent as stored (bounded; None when absent)."""
    return (ctx.user_agent or "")[:MAX_USER_AGENT] or None


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
    sk = _sk(at, event_id)
    item: dict[str, Any] = {
        "pk": org_pk(org_id),
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
        "user_agent": user_agent(ctx),
        "gsi3pk": action_pk(org_id, action),
        "gsi3sk": sk,
    }
    if actor.id is not None:
        item["gsi1pk"] = actor_pk(org_id, actor.id)
        item["gsi1sk"] = sk
    if target_type is not None and target_id is not None:
        item["gsi2pk"] = target_pk(org_id, target_type, target_id)
        item["gsi2sk"] = sk
    return Put(AUDIT_TABLE, item, condition=ItemNotExists())


async def record(store: Store, **kwargs: Any) -> None:
    """Store one event on its own (for outcomes that change nothing else)."""
    op = event_op(**kwargs)
    await store.put(op.table, op.item, condition=op.condition)
