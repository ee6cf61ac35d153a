"""Identity's records and rules: users, organizations, profiles, invitations,
email normalisation and the password policy.

Pure: no I/O and no port; services apply these rules. Email addresses are
checked with ``email-validator`` (a pure library), the one import beyond the
standard library and :mod:`prework.core`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from email_validator import EmailNotValidError, validate_email

from prework.core.principal import Role
from prework.errors import ValidationFailed

__all__ = [
    "MAX_EMAIL_LENGTH",
    "MAX_PASSWORD_BYTES",
    "MIN_PASSWORD_CHARS",
    "Certification",
    "Invitation",
    "InvitationStatus",
    "Organization",
    "Profile",
    "SessionStatus",
    "User",
    "UserStatus",
    "check_password_policy",
    "normalize_email",
]

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_BYTES = 1024
MAX_EMAIL_LENGTH = 254


class UserStatus(StrEnum):
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


class SessionStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


def normalize_email(raw: str) -> str:
    """The canonical form of an email address: trimmed, NFKC-normalised, case-folded.

    Two addresses that differ only in case, surrounding blanks or Unicode
    compatibility forms (full-width letters, ligatures) normalise to the same
    string, so they are the same account. Raises :class:`ValidationFailed`
    (code ``invalid_email``) if the result is not a syntactically valid address.
    """
    text = unicodedata.normalize("NFKC", raw).strip()
    text = unicodedata.normalize("NFKC", text.casefold())
    if not text or len(text) > MAX_EMAIL_LENGTH:
        raise ValidationFailed("Not a valid email address.", code="invalid_email")
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(
            "Not a valid email address.", code="invalid_email", details={"reason": str(exc)}
        ) from exc
    return text


def check_password_policy(password: str, *, email: str) -> None:
    """Raise :class:`ValidationFailed` unless ``password`` may be set for ``email``.

    At least 12 characters, at most 1,024 bytes of UTF-8, and not the email
    address itself (compared after normalisation). Codes: ``password_too_short``,
    ``password_too_long``, ``password_is_email``, ``invalid_password`` (not
    encodable as UTF-8).
    """
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValidationFailed(
            f"The password must have at least {MIN_PASSWORD_CHARS} characters.",
            code="password_too_short",
            details={"min_chars": MIN_PASSWORD_CHARS},
        )
    try:
        size = len(password.encode("utf-8"))
    except UnicodeEncodeError as exc:  # lone surrogates from a JSON \ud800 escape
        raise ValidationFailed(
            "The password must be valid Unicode text.", code="invalid_password"
        ) from exc
    if size > MAX_PASSWORD_BYTES:
        raise ValidationFailed(
            f"The password must have at most {MAX_PASSWORD_BYTES} bytes.",
            code="password_too_long",
            details={"max_bytes": MAX_PASSWORD_BYTES},
        )
    folded = unicodedata.normalize("NFKC", password).strip().casefold()
    if unicodedata.normalize("NFKC", folded) == email:
        raise ValidationFailed(
            "The password must not be the email address.", code="password_is_email"
        )


# --------------------------------------------------------------------------- records
@dataclass(frozen=True, slots=True)
class Organization:
    id: str
    name: str
    locale: str | None
    time_zone: str | None
    created_at: str
    updated_at: str
    version: int


@dataclass(frozen=True, slots=True)
class User:
    id: str
    org_id: str
    email: str
    role: Role
    status: UserStatus
    created_at: str
    updated_at: str
    last_login_at: str | None
    version: int


@dataclass(frozen=True, slots=True)
class Certification:
    name: str
    issuer: str | None = None
    number: str | None = None
    expires_on: str | None = None  # ISO date, YYYY-MM-DD


@dataclass(frozen=True, slots=True)
class Profile:
    user_id: str
    org_id: str
    display_name: str
    phone: str | None
    job_title: str | None
    certifications: tuple[Certification, ...]
    avatar_media_id: str | None
    locale: str | None
    time_zone: str | None
    created_at: str
    updated_at: str
    version: int


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class Invitation:
    id: str
    org_id: str
    email: str
    role: Role
    status: InvitationStatus
    invited_by: str
    created_at: str
    expires_at: str
    accepted_by: str | None = None
