"""Where identity data lives: every key shape and item shape of the identity tables.

This module is the only code that knows how identity items are keyed and laid
out: it builds new items and the update operations of their life (a login, a
rotation, a revocation, an acceptance, a role or status change, the owner
count), and reads items back into records (:mod:`prework.identity.models`)
with its ``*_of`` functions; services assemble their transactions from these.
(The rate-limit counters' window arithmetic lives in
:mod:`prework.identity.ratelimit`; their key, here.) ``docs/data-model.md``
describes the same shapes; change both together. Internal attributes
(password hash, session epoch, owner count, token hashes) stay in the items and
never reach a record.

Tenant data always has the organization id in its partition key
(``ORG#<org>``); the only items keyed otherwise are the global email guard
(``EMAIL#<email>``, unique by design), auth sessions and rate-limit counters
(``SESSION#<id>``, ``RATE#...``), which carry the organization as an attribute.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prework.core.audit import user_agent
from prework.core.clock import iso
from prework.core.principal import RequestContext, Role
from prework.identity.models import (
    Certification,
    Invitation,
    InvitationStatus,
    Organization,
    Profile,
    SessionStatus,
    User,
    UserStatus,
)
from prework.store.base import (
    All,
    AttrEquals,
    AttrGreaterThan,
    AttrNotExists,
    Item,
    ItemExists,
    Key,
    Update,
    UpdateSpec,
    version_equals,
)

__all__ = [
    "ORGS",
    "PROFILES",
    "RATE_KIND",
    "SESSIONS",
    "USERS",
    "Listing",
    "certification_value",
    "email_guard_item",
    "email_guard_key",
    "invitation_acceptance_op",
    "invitation_item",
    "invitation_key",
    "invitation_of",
    "invitation_revocation_op",
    "invitations_listing",
    "is_invitation",
    "is_session",
    "login_op",
    "org_item",
    "org_key",
    "org_of",
    "org_pk",
    "owner_count_op",
    "profile_item",
    "profile_key",
    "profile_of",
    "rate_counter_key",
    "session_item",
    "session_key",
    "session_revocation_op",
    "session_rotation_op",
    "user_index_attrs",
    "user_item",
    "user_key",
    "user_of",
    "user_role_status_op",
    "users_listing",
]

ORGS = "organizations"
USERS = "users"
PROFILES = "profiles"
SESSIONS = "sessions"

SESSION_KIND = "auth"
RATE_KIND = "ratelimit"


@dataclass(frozen=True, slots=True)
class Listing:
    """Where a listing reads: ``store.query(table, **listing.query)``."""

    table: str
    pk: str
    index: str | None = None
    sk_prefix: str | None = None

    @property
    def query(self) -> dict[str, Any]:
        return {"pk": self.pk, "index": self.index, "sk_prefix": self.sk_prefix}


def org_pk(org_id: str) -> str:
    """The partition of an organization's own items (organization, members, invitations)."""
    return f"ORG#{org_id}"


# --------------------------------------------------------------------------- organizations
def org_key(org_id: str) -> Key:
    return {"pk": org_pk(org_id), "sk": "ORG"}


def org_item(*, org_id: str, name: str, now: str) -> Item:
    return {
        **org_key(org_id),
        "type": "organization",
        "id": org_id,
        "name": name,
        "locale": None,
        "time_zone": None,
        "active_owners": 1,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


def org_of(item: Mapping[str, Any]) -> Organization:
    return Organization(
        id=item["id"],
        name=item["name"],
        locale=item.get("locale"),
        time_zone=item.get("time_zone"),
        created_at=item["created_at"],
        updated_at=item["updated_at"],
        version=int(item["version"]),
    )


# --------------------------------------------------------------------------- users
def user_key(org_id: str, user_id: str) -> Key:
    return {"pk": org_pk(org_id), "sk": f"USER#{user_id}"}


def email_guard_key(email: str) -> Key:
    return {"pk": f"EMAIL#{email}", "sk": "EMAIL"}


def user_index_attrs(org_id: str, user_id: str, *, role: Role, status: UserStatus) -> Item:
    """The index attributes of a user item: gsi1 by status, gsi2 by role then status."""
    return {
        "gsi1pk": f"ORG#{org_id}#STATUS#{status.value}",
        "gsi1sk": f"USER#{user_id}",
        "gsi2pk": f"ORG#{org_id}#ROLE#{role.value}",
        "gsi2sk": f"STATUS#{status.value}#USER#{user_id}",
    }


def users_listing(org_id: str, *, role: Role | None, status: UserStatus | None) -> Listing:
    """The members of an organization, by id; by role (and status), or by status."""
    if role is not None:
        return Listing(
            USERS,
            pk=f"ORG#{org_id}#ROLE#{role.value}",
            index="gsi2",
            sk_prefix=f"STATUS#{status.value}#" if status is not None else None,
        )
    if status is not None:
        return Listing(USERS, pk=f"ORG#{org_id}#STATUS#{status.value}", index="gsi1")
    return Listing(USERS, pk=org_pk(org_id), sk_prefix="USER#")


def user_item(
    *, org_id: str, user_id: str, email: str, role: Role, password_hash: str, now: str
) -> Item:
    status = UserStatus.ACTIVE
    return {
        **user_key(org_id, user_id),
        **user_index_attrs(org_id, user_id, role=role, status=status),
        "type": "user",
        "id": user_id,
        "org_id": org_id,
        "email": email,
        "role": role.value,
        "status": status.value,
        "password_hash": password_hash,
        "session_epoch": 0,
        "created_at": now,
        "updated_at": now,
        "last_login_at": None,
        "version": 1,
    }


def login_op(user: Mapping[str, Any], changes: Mapping[str, Any]) -> Update:
    """Record a login on ``user`` (as read): only if it is still active, with the same
    password hash and session epoch (a deactivation or password change in between
    makes the login fail)."""
    epoch_unchanged = (
        AttrEquals("session_epoch", user["session_epoch"])
        if "session_epoch" in user
        else AttrNotExists("session_epoch")
    )
    return Update(
        USERS,
        user_key(user["org_id"], user["id"]),
        UpdateSpec(set=dict(changes)),
        condition=All(
            AttrEquals("status", UserStatus.ACTIVE.value),
            AttrEquals("password_hash", user["password_hash"]),
            epoch_unchanged,
        ),
    )


def user_role_status_op(
    user: Mapping[str, Any], *, role: Role, status: UserStatus, now: str, bump_epoch: bool
) -> Update:
    """Move ``user`` (as read, at its version) to ``role``/``status``, moving its index
    entries; ``bump_epoch`` ends every session it has."""
    org_id, user_id = user["org_id"], user["id"]
    version = int(user["version"])
    return Update(
        USERS,
        user_key(org_id, user_id),
        UpdateSpec(
            set={
                "role": role.value,
                "status": status.value,
                "updated_at": now,
                "version": version + 1,
                **user_index_attrs(org_id, user_id, role=role, status=status),
            },
            add={"session_epoch": 1} if bump_epoch else {},
        ),
        condition=All(ItemExists(), version_equals(version)),
    )


def owner_count_op(org_id: str, delta: int) -> Update:
    """Change the organization's count of active owners; a decrease needs another
    owner left (the count stays at least 1)."""
    condition = AttrGreaterThan("active_owners", 1) if delta < 0 else ItemExists()
    return Update(
        ORGS, org_key(org_id), UpdateSpec(add={"active_owners": delta}), condition=condition
    )


def email_guard_item(*, email: str, org_id: str, user_id: str) -> Item:
    return {**email_guard_key(email), "type": "email", "org_id": org_id, "user_id": user_id}


def user_of(item: Mapping[str, Any]) -> User:
    return User(
        id=item["id"],
        org_id=item["org_id"],
        email=item["email"],
        role=Role(item["role"]),
        status=UserStatus(item["status"]),
        created_at=item["created_at"],
        updated_at=item["updated_at"],
        last_login_at=item.get("last_login_at"),
        version=int(item["version"]),
    )


# --------------------------------------------------------------------------- profiles
def profile_key(org_id: str, user_id: str) -> Key:
    return {"pk": org_pk(org_id), "sk": f"PROFILE#{user_id}"}


def profile_item(*, org_id: str, user_id: str, display_name: str, now: str) -> Item:
    return {
        **profile_key(org_id, user_id),
        "type": "profile",
        "user_id": user_id,
        "org_id": org_id,
        "display_name": display_name,
        "phone": None,
        "job_title": None,
        "certifications": [],
        "avatar_media_id": None,
        "locale": None,
        "time_zone": None,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


def certification_of(raw: Mapping[str, Any]) -> Certification:
    return Certification(
        name=raw["name"],
        issuer=raw.get("issuer"),
        number=raw.get("number"),
        expires_on=raw.get("expires_on"),
        verified_by=raw.get("verified_by"),
        verified_at=raw.get("verified_at"),
    )


def certification_value(cert: Certification) -> dict[str, Any]:
    return {
        "name": cert.name,
        "issuer": cert.issuer,
        "number": cert.number,
        "expires_on": cert.expires_on,
        "verified_by": cert.verified_by,
        "verified_at": cert.verified_at,
    }


def profile_of(item: Mapping[str, Any]) -> Profile:
    return Profile(
        user_id=item["user_id"],
        org_id=item["org_id"],
        display_name=item["display_name"],
        phone=item.get("phone"),
        job_title=item.get("job_title"),
        certifications=tuple(certification_of(c) for c in item.get("certifications") or []),
        avatar_media_id=item.get("avatar_media_id"),
        locale=item.get("locale"),
        time_zone=item.get("time_zone"),
        created_at=item["created_at"],
        updated_at=item["updated_at"],
        version=int(item["version"]),
    )


# --------------------------------------------------------------------------- invitations
def invitation_key(org_id: str, invitation_id: str) -> Key:
    return {"pk": org_pk(org_id), "sk": f"INVITE#{invitation_id}"}


def invitations_listing(org_id: str) -> Listing:
    return Listing(ORGS, pk=org_pk(org_id), sk_prefix="INVITE#")


def invitation_item(
    *,
    org_id: str,
    invitation_id: str,
    email: str,
    role: Role,
    token_hash: str,
    invited_by: str,
    now: float,
    expires_at: int,
) -> Item:
    """A pending invitation; the item expires (TTL ``expires_at``) with the invitation."""
    return {
        **invitation_key(org_id, invitation_id),
        "type": "invitation",
        "id": invitation_id,
        "org_id": org_id,
        "email": email,
        "role": role.value,
        "status": InvitationStatus.PENDING.value,
        "token_hash": token_hash,
        "invited_by": invited_by,
        "created_at": iso(now),
        "expires_at": expires_at,
        "expires_at_iso": iso(expires_at),
    }


def invitation_acceptance_op(invitation: Mapping[str, Any], *, user_id: str, now: str) -> Update:
    """Use up a pending invitation (as read) for the new member ``user_id``."""
    return Update(
        ORGS,
        invitation_key(invitation["org_id"], invitation["id"]),
        UpdateSpec(
            set={
                "status": InvitationStatus.ACCEPTED.value,
                "accepted_by": user_id,
                "accepted_at": now,
            }
        ),
        condition=All(
            AttrEquals("status", InvitationStatus.PENDING.value),
            AttrEquals("token_hash", invitation["token_hash"]),
        ),
    )


def invitation_revocation_op(org_id: str, invitation_id: str) -> Update:
    """Revoke an invitation if it is still pending."""
    return Update(
        ORGS,
        invitation_key(org_id, invitation_id),
        UpdateSpec(set={"status": InvitationStatus.REVOKED.value}),
        condition=AttrEquals("status", InvitationStatus.PENDING.value),
    )


def is_invitation(item: Mapping[str, Any] | None) -> bool:
    return item is not None and item.get("type") == "invitation"


def invitation_of(item: Mapping[str, Any]) -> Invitation:
    return Invitation(
        id=item["id"],
        org_id=item["org_id"],
        email=item["email"],
        role=Role(item["role"]),
        status=InvitationStatus(item["status"]),
        invited_by=item["invited_by"],
        created_at=item["created_at"],
        expires_at=item["expires_at_iso"],
        accepted_by=item.get("accepted_by"),
    )


# --------------------------------------------------------------------------- sessions
def session_key(session_id: str) -> Key:
    return {"pk": f"SESSION#{session_id}", "sk": "SESSION"}


def session_item(
    *,
    session_id: str,
    user: Mapping[str, Any],
    refresh_hash: str,
    ctx: RequestContext,
    now: float,
    expires_at: int,
) -> Item:
    """A new active auth session of ``user`` (an item from :func:`user_item`)."""
    return {
        **session_key(session_id),
        # gsi1 of ``sessions``: the auth sessions of one user, oldest first
        "gsi1pk": f"ORG#{user['org_id']}#USER#{user['id']}#SESSIONS",
        "gsi1sk": f"{iso(now)}#{session_id}",
        "kind": SESSION_KIND,
        "id": session_id,
        "user_id": user["id"],
        "org_id": user["org_id"],
        "status": SessionStatus.ACTIVE.value,
        "epoch": int(user.get("session_epoch", 0)),
        "refresh_hash": refresh_hash,
        "prev_refresh_hashes": [],
        "created_at": iso(now),
        "refreshed_at": iso(now),
        "client_ip": ctx.client_ip,
        "user_agent": user_agent(ctx),
        "expires_at": expires_at,
    }


def session_rotation_op(
    session_id: str,
    *,
    presented_hash: str,
    new_hash: str,
    remembered: list[str],
    now: float,
    expires_at: int,
) -> Update:
    """Replace an active session's refresh-token hash, if it is still ``presented_hash``;
    ``remembered`` are the replaced hashes kept for reuse detection."""
    return Update(
        SESSIONS,
        session_key(session_id),
        UpdateSpec(
            set={
                "refresh_hash": new_hash,
                "prev_refresh_hashes": remembered,
                "refreshed_at": iso(now),
                "expires_at": expires_at,
            }
        ),
        condition=All(
            AttrEquals("status", SessionStatus.ACTIVE.value),
            AttrEquals("refresh_hash", presented_hash),
        ),
    )


def session_revocation_op(session_id: str, *, reason: str, now: float) -> Update:
    """Revoke a session if it is still active."""
    return Update(
        SESSIONS,
        session_key(session_id),
        UpdateSpec(
            set={
                "status": SessionStatus.REVOKED.value,
                "revoked_at": iso(now),
                "revoked_reason": reason,
            }
        ),
        condition=All(ItemExists(), AttrEquals("status", SessionStatus.ACTIVE.value)),
    )


def is_session(item: Mapping[str, Any] | None) -> bool:
    return item is not None and item.get("kind") == SESSION_KIND


# --------------------------------------------------------------------------- rate limits
def rate_counter_key(limit_name: str, subject: str, window_start: int) -> Key:
    """The counter of one limit, subject and window; the subject is kept only hashed."""
    digest = hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return {"pk": f"RATE#{limit_name}#{digest}", "sk": f"W#{window_start}"}
