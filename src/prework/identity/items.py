"""Stored shapes of the identity items: build them, read them back as records.

Keys come from :mod:`prework.services.keys`; ``docs/data-model.md`` shows the
same shapes. Internal attributes (password hash, session epoch, owner count,
token hashes) stay in the items and never reach a record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prework.domain.identity import (
    Certification,
    Invitation,
    InvitationStatus,
    Organization,
    Profile,
    Role,
    User,
    UserStatus,
)
from prework.services import keys
from prework.store.base import Item


# --------------------------------------------------------------------------- organizations
def org_item(*, org_id: str, name: str, now: str) -> Item:
    return {
        **keys.org_key(org_id),
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
def user_item(
    *, org_id: str, user_id: str, email: str, role: Role, password_hash: str, now: str
) -> Item:
    status = UserStatus.ACTIVE
    return {
        **keys.user_key(org_id, user_id),
        **keys.user_index_attrs(org_id, user_id, role=role.value, status=status.value),
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


def email_guard_item(*, email: str, org_id: str, user_id: str) -> Item:
    return {**keys.email_guard_key(email), "type": "email", "org_id": org_id, "user_id": user_id}


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
def profile_item(*, org_id: str, user_id: str, display_name: str, now: str) -> Item:
    return {
        **keys.profile_key(org_id, user_id),
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
    )


def certification_value(cert: Certification) -> dict[str, Any]:
    return {
        "name": cert.name,
        "issuer": cert.issuer,
        "number": cert.number,
        "expires_on": cert.expires_on,
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
