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
    "certification_key",
    "check_password_policy",
    "legacy_email_form",
    "legacy_email_forms",
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


def legacy_email_form(raw: str) -> str:
    """How the first releases normalised an address (and keyed its guard):
    trimmed, NFKC-normalised and case-folded, domain included, nothing else."""
    text = unicodedata.normalize("NFKC", raw).strip()
    return unicodedata.normalize("NFKC", text.casefold())


def _invalid_email(exc: EmailNotValidError | None = None) -> ValidationFailed:
    details = {"reason": str(exc)} if exc is not None else None
    return ValidationFailed("Not a valid email address.", code="invalid_email", details=details)


def normalize_email(raw: str) -> str:
    """The canonical form of an email address: the one spelling of one mailbox.

    The local part is NFKC-normalised and case-folded (accounts are
    case-insensitive, as every mail provider in practice is); the domain is
    email-validator's normalised form: IDNA 2008 (UTS #46) U-labels in lower
    case, with ideographic and full-width dots as ``.``. So ``x@example。com``
    is ``x@example.com``, and ``p@xn--bcher-kva.example`` and
    ``P@BÜCHER.example`` are ``p@bücher.example``. Raises
    :class:`ValidationFailed` (code ``invalid_email``) if the text is not a
    syntactically valid address. Idempotent.
    """
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text or len(text) > MAX_EMAIL_LENGTH:
        raise _invalid_email()
    try:
        parsed = validate_email(text, check_deliverability=False)
        local = unicodedata.normalize("NFKC", parsed.local_part.casefold())
        address = f"{local}@{parsed.domain}"
        # case folding may lengthen the local part or make it invalid: check the result
        if validate_email(address, check_deliverability=False).normalized != address:
            raise _invalid_email()  # pragma: no cover - a fixed point for every valid input
    except EmailNotValidError as exc:
        raise _invalid_email(exc) from exc
    if len(address) > MAX_EMAIL_LENGTH:
        raise _invalid_email()
    return address


def legacy_email_forms(raw: str) -> tuple[str, ...]:
    """The other spellings under which the first releases may have keyed this
    mailbox's email guard, most specific first: the address as typed (with the
    old normalisation), then its Unicode and ASCII (punycode) domain forms.

    Empty for an address whose every form is canonical (any plain ASCII one).
    ``raw`` must be valid (:func:`normalize_email` accepts it).
    """
    canonical = normalize_email(raw)
    local = canonical.rpartition("@")[0]
    ascii_domain = validate_email(canonical, check_deliverability=False).ascii_domain
    forms: list[str] = []
    for spelling in (raw, canonical, f"{local}@{ascii_domain}"):
        form = legacy_email_form(spelling)
        if form != canonical and form not in forms:
            forms.append(form)
    return tuple(forms)


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
    # set by an owner, admin or supervisor (never by the holder); cleared by any edit
    verified_by: str | None = None
    verified_at: str | None = None

    def same_claim(self, other: Certification) -> bool:
        """Whether ``other`` states exactly what this one does (verification aside)."""
        return (self.name, self.issuer, self.number, self.expires_on) == (
            other.name,
            other.issuer,
            other.number,
            other.expires_on,
        )


def certification_key(name: str) -> str:
    """A certification name as matched: NFKC, case-folded, inner whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


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
