"""Reading the audit log: the organization's events, newest first, with filters.

Events are written by every area through :mod:`prework.core.audit` (whose key
shapes this module reads); nothing updates or deletes one.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from prework.audit.permissions import AuditAction
from prework.authz.authorize import authorize
from prework.core import audit
from prework.core.clock import iso_of
from prework.core.paging import Paged, clamp_limit, decode_cursor, encode_cursor
from prework.core.principal import Principal, RequestContext
from prework.errors import ValidationFailed
from prework.store.base import Store

__all__ = ["AuditEvent", "AuditFilter", "AuditService"]

_SCAN_PAGES = 10  # store pages one listing call may read while filtering


class AuditEvent(NamedTuple):
    """One event as read back. A named tuple, not a frozen dataclass: a listing
    builds one per event, and a frozen dataclass sets each of its 14 fields
    through ``object.__setattr__`` (about 3 us an event, a page of 50 spent
    more building them than validating and serializing their read models)."""

    id: str
    org_id: str
    at: str
    action: str
    outcome: str
    actor_type: str
    actor_id: str | None
    target_type: str | None
    target_id: str | None
    changes: dict[str, Any]
    details: dict[str, Any]
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
    # the item was decoded for this read alone: its maps become the event's
    get = item.get
    return AuditEvent(
        item["id"],
        item["org_id"],
        item["at"],
        item["action"],
        get("outcome", "success"),
        item["actor_type"],
        get("actor_id"),
        get("target_type"),
        get("target_id"),
        get("changes") or {},
        get("details") or {},
        get("request_id"),
        get("client_ip"),
        get("user_agent"),
    )


def _matches(item: Mapping[str, Any], f: AuditFilter) -> bool:
    return (
        (f.actor_id is None or item.get("actor_id") == f.actor_id)
        and (f.action is None or item.get("action") == f.action)
        and (f.target_type is None or item.get("target_type") == f.target_type)
        and (f.target_id is None or item.get("target_id") == f.target_id)
    )


class AuditService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def list(
        self,
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
        bounds the sort key. The cursor is the sort key of the last event read,
        so a page may hold fewer than ``limit`` events and still have a next page.
        """
        store = self.store
        await authorize(store, principal, ctx, AuditAction.AUDIT_READ)
        size = clamp_limit(limit)
        if filters.target_id is not None and filters.target_type is None:
            raise ValidationFailed("target_id needs target_type.", code="invalid_filter")
        org = principal.org_id
        index: str | None
        if filters.target_type is not None and filters.target_id is not None:
            index, pk = "gsi2", audit.target_pk(org, filters.target_type, filters.target_id)
        elif filters.actor_id is not None:
            index, pk = "gsi1", audit.actor_pk(org, filters.actor_id)
        elif filters.action is not None:
            index, pk = "gsi3", audit.action_pk(org, filters.action)
        else:
            index, pk = None, audit.org_pk(org)

        sk_gte = _bound(filters.since, "since") if filters.since else None
        sk_lte = _bound(filters.until, "until") + "#~" if filters.until else None
        if sk_gte is not None and sk_lte is not None and sk_gte > sk_lte:
            raise ValidationFailed("since is after until.", code="invalid_filter")
        after: str | None = None
        if cursor is not None:
            data = decode_cursor(cursor)
            after = data.get("sk")
            # a position in this partition, as made by this method: nothing else
            # (an arbitrary string would reach the engine, whose key rules differ)
            if not audit.is_event_sk(after):
                raise ValidationFailed("The cursor is not valid.", code="invalid_cursor")
            sk_lte = after if sk_lte is None else min(sk_lte, after)
            if sk_gte is not None and sk_lte < sk_gte:
                return Paged([], None)  # the cursor is past the end of the range

        # no filter but the time range (which bounds the query): every item matches
        unfiltered = (
            filters.actor_id is None
            and filters.action is None
            and filters.target_type is None
            and filters.target_id is None
        )
        found: builtins.list[AuditEvent] = []
        last_read: str | None = None
        last_found = ""
        store_cursor: str | None = None
        for _ in range(_SCAN_PAGES):
            page = await store.query(
                audit.AUDIT_TABLE,
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
                if unfiltered or _matches(item, filters):
                    if len(found) == size:  # one more exists: the page is full
                        return Paged(found, encode_cursor({"sk": last_found}))
                    found.append(_event(item))
                    last_found = sk
                last_read = sk
            store_cursor = page.cursor
            if store_cursor is None:
                return Paged(found, None)
        return Paged(found, encode_cursor({"sk": last_read}) if last_read else None)
