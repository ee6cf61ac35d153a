"""``/api/audit``: the organization's audit log, read-only (owner/admin/auditor).

There is deliberately no route that updates or deletes an event.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query
from fastapi.responses import Response
from pydantic import BeforeValidator

from prework.audit.schemas import AuditEventRead
from prework.audit.service import AuditFilter, AuditService
from prework.http.deps import area_services
from prework.http.pages import page_answer
from prework.http.routing import APIRouter
from prework.http.schemas import Cursor, Limit, Page
from prework.http.security import Ctx, CurrentPrincipal

# the page models of this module's listings (parametrized once, not per request)
AuditEventPage = Page[AuditEventRead]

__all__ = ["router"]

router = APIRouter(prefix="/api/audit", tags=["audit"])

AuditDep = Annotated[AuditService, Depends(area_services("audit", AuditService))]
Id = Annotated[str | None, Query(min_length=1, max_length=200)]
_ISO_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def _iso_time(value: object) -> object:
    # only ISO 8601 text is a time here (never a number of seconds)
    if not isinstance(value, str) or not _ISO_TIME.match(value):
        raise ValueError("must be an ISO 8601 time, such as 2026-01-31T12:00:00Z")
    return value


Time = Annotated[datetime | None, BeforeValidator(_iso_time), Query()]


@router.get("", response_model=AuditEventPage, summary="Audit events, newest first, with filters")
async def list_audit_events(
    principal: CurrentPrincipal,
    audit: AuditDep,
    ctx: Ctx,
    actor: Id = None,
    action: Id = None,
    target_type: Id = None,
    target_id: Id = None,
    since: Time = None,
    until: Time = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Response:
    page = await audit.list(
        principal=principal,
        ctx=ctx,
        filters=AuditFilter(
            actor_id=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            since=since,
            until=until,
        ),
        limit=limit,
        cursor=cursor,
    )
    return page_answer(AuditEventPage, page)  # the events serialized as they are
