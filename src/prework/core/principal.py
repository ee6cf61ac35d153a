"""Who acts: roles, the authenticated principal, and where a request comes from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_ORG", "ActorType", "Authenticator", "Principal", "RequestContext", "Role"]

# The audit partition of events that belong to no organization (for example a
# failed login for an email nobody registered). Real organization ids are UUIDs,
# so this can never collide with one; no API route reads it.
SYSTEM_ORG = "_system"


class Role(StrEnum):
    """What a member of an organization may do; see :mod:`prework.authz.matrix`."""

    OWNER = "owner"
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    WORKER = "worker"
    AUDITOR = "auditor"


class ActorType(StrEnum):
    """Who did something recorded in the audit log."""

    USER = "user"  # an authenticated member
    ANONYMOUS = "anonymous"  # an unauthenticated caller (failed login, registration)
    SYSTEM = "system"  # Prework itself


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a service: a user acting in their organization.

    ``role`` is the role the store holds right now (read on every request), not
    the one the access token was issued with.
    """

    user_id: str
    org_id: str
    role: Role
    session_id: str
    email: str


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Where a call comes from; recorded with every audit event.

    ``idempotency_key`` is the request's ``Idempotency-Key`` (a creating POST the
    client may send again): a service whose creation takes several writes derives
    the new object's id from it (:func:`prework.core.ids.derived_id`), so a retry
    after a crash finds and finishes the same object instead of making another.
    """

    request_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    idempotency_key: str | None = None


@runtime_checkable
class Authenticator(Protocol):
    """Turns an access token into the principal of a live session (identity's sessions)."""

    async def authenticate(self, access_token: str) -> Principal: ...
