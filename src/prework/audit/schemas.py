"""Response models of the audit routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from prework.audit.service import AuditEvent

__all__ = ["AuditEventRead"]


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    at: str
    action: str
    outcome: str
    actor_type: str
    actor_id: str | None
    target_type: str | None
    target_id: str | None
    changes: dict[str, Any]
    details: dict[str, Any]
    request_id: str | None
    client_ip: str | None
    user_agent: str | None

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventRead:
        return cls.model_validate(event)
