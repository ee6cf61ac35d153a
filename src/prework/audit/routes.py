"""``/api/audit``: the organization's audit log, read-only (owner/admin/auditor).

There is deliberately no route that updates or deletes an event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from prework.api.auth import Ctx, CurrentPrincipal
from prework.api.deps import StoreDep
from prework.api.schemas.identity import AuditEventRead, Page
from prework.services import audit as audit_service
from prework.services.audit import AuditFilter

router = APIRouter(prefix="/api/audit", tags=["audit"])

Id = Annotated[str | None, Query(min_length=1, max_length=200)]


@router.get("", summary="Audit events, newest first, with filters")
async def list_audit_events(
    principal: CurrentPrincipal,
    store: StoreDep,
    ctx: Ctx,
    actor: Id = None,
    action: Id = None,
    target_type: Id = None,
    target_id: Id = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int | None, Query(ge=1, le=200)] = None,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Page[AuditEventRead]:
    page = await audit_service.list(
        store,
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
    return Page(items=[AuditEventRead.of(e) for e in page.items], next_cursor=page.next_cursor)
