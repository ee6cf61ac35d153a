"""Request and response models of the identity routes (auth, users, profiles, orgs).

The shared pieces (strict bodies, names, versions, pages) come from
:mod:`prework.http.schemas`. Dates are ``YYYY-MM-DD`` text. Passwords and
tokens are accepted but never echoed: validation errors carry only the
location and the reason.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import date
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic.json_schema import SkipJsonSchema

from prework.core.principal import Role
from prework.http.schemas import Name, ShortText, Strict, Version, json_integer
from prework.identity.invitations import INVITATION_DAYS_DEFAULT, INVITATION_DAYS_MAX
from prework.identity.models import (
    Certification,
    Invitation,
    InvitationStatus,
    Organization,
    Profile,
    User,
    UserStatus,
)

_TIME_ZONES = frozenset(zoneinfo.available_timezones())
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _time_zone(value: str | None) -> str | None:
    if value is not None and value not in _TIME_ZONES:
        raise ValueError("not an IANA time zone name (such as Europe/Berlin)")
    return value


def _locale(value: str | None) -> str | None:
    if value is not None and not _LOCALE.fullmatch(value):
        raise ValueError("not a BCP 47 language tag (such as en-GB)")
    return value


def _date_text(value: object) -> object:
    # JSON has no date type: only the text form is a date (never a number of seconds)
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


# the address itself is judged by the domain (email-validator; 422 invalid_email):
# the schema states it as JSON Schema's "email" format
EmailText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=320),
    Field(json_schema_extra={"format": "email"}),
]
# the policy (12 chars .. 1,024 bytes) is checked by the domain with its own codes;
# this only keeps absurd inputs out of the hasher
Password = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
# a password being set: the schema states the policy (the domain enforces it, with
# password_too_short / password_too_long / password_is_email)
NewPassword = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4096),
    Field(
        json_schema_extra={"minLength": 12, "maxLength": 1024},
        description="At least 12 characters, at most 1,024 bytes (UTF-8), not the email.",
    ),
]
Token = Annotated[str, StringConstraints(min_length=1, max_length=512)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]
Locale = Annotated[
    str,
    StringConstraints(max_length=35),
    AfterValidator(_locale),
    Field(json_schema_extra={"pattern": _LOCALE.pattern}),
]
TimeZone = Annotated[
    str,
    StringConstraints(max_length=64),
    AfterValidator(_time_zone),
    Field(json_schema_extra={"enum": sorted(_TIME_ZONES)}),
]
MediaId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]  # prework.media
IsoDate = Annotated[date, BeforeValidator(_date_text)]


# --------------------------------------------------------------------------- read models
class OrganizationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    locale: str | None
    time_zone: str | None
    created_at: str
    updated_at: str
    version: int

    @classmethod
    def of(cls, org: Organization) -> OrganizationRead:
        return cls.model_validate(org)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    org_id: str
    email: str
    role: Role
    status: UserStatus
    created_at: str
    updated_at: str
    last_login_at: str | None
    version: int

    @classmethod
    def of(cls, user: User) -> UserRead:
        return cls.model_validate(user)


class CertificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    issuer: str | None
    number: str | None
    expires_on: date | None
    verified_by: str | None = Field(description="Who verified it (owner/admin/supervisor).")
    verified_at: str | None


class ProfileRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: str
    org_id: str
    display_name: str
    phone: str | None
    job_title: str | None
    certifications: list[CertificationRead]
    avatar_media_id: str | None
    locale: str | None
    time_zone: str | None
    created_at: str
    updated_at: str
    version: int

    @classmethod
    def of(cls, profile: Profile) -> ProfileRead:
        return cls.model_validate(profile)


class InvitationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    role: Role
    status: InvitationStatus
    invited_by: str
    created_at: str
    expires_at: str
    accepted_by: str | None

    @classmethod
    def of(cls, invitation: Invitation) -> InvitationRead:
        return cls.model_validate(invitation)


class InvitationCreated(InvitationRead):
    token: str = Field(description="Give this to the invitee; it is shown only once.")


# --------------------------------------------------------------------------- auth
class RegisterCreate(Strict):
    organization_name: Name
    email: EmailText
    password: NewPassword
    display_name: Name


class LoginCreate(Strict):
    email: EmailText
    password: Password


class RefreshCreate(Strict):
    refresh_token: Token


class InvitationAccept(Strict):
    token: Token
    password: NewPassword
    display_name: Name


class TokenRead(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type
    expires_in: int = Field(description="Seconds the access token is valid.")
    refresh_token: str
    refresh_expires_in: int = Field(description="Seconds the refresh token is valid.")
    session_id: str


class AuthRead(TokenRead):
    user: UserRead
    organization: OrganizationRead


class MeRead(BaseModel):
    user: UserRead
    organization: OrganizationRead
    session_id: str
    permissions: list[str] = Field(description="Actions the caller's role allows.")


# --------------------------------------------------------------------------- users
class UserUpdate(Strict):
    role: Role
    version: Version = None


class InvitationCreate(Strict):
    email: EmailText
    role: Role
    expires_in_days: Annotated[int, Field(strict=True), BeforeValidator(json_integer)] = Field(
        default=INVITATION_DAYS_DEFAULT, ge=1, le=INVITATION_DAYS_MAX, strict=True
    )


# --------------------------------------------------------------------------- profiles
class CertificationIn(Strict):
    name: ShortText
    issuer: ShortText | None = None
    number: ShortText | None = None
    expires_on: IsoDate | None = None

    def to_domain(self) -> Certification:
        return Certification(
            name=self.name,
            issuer=self.issuer,
            number=self.number,
            expires_on=self.expires_on.isoformat() if self.expires_on else None,
        )


class ProfileUpdate(Strict):
    """Fields to change; a field sent as null is cleared (``display_name`` cannot be)."""

    # not nullable in the schema: null is refused (it cannot be cleared)
    display_name: Name | SkipJsonSchema[None] = None
    phone: Phone | None = None
    job_title: ShortText | None = None
    certifications: list[CertificationIn] | None = Field(default=None, max_length=50)
    avatar_media_id: MediaId | None = None
    locale: Locale | None = None
    time_zone: TimeZone | None = None
    version: Version = None


# --------------------------------------------------------------------------- orgs
class OrganizationUpdate(Strict):
    name: Name | SkipJsonSchema[None] = None  # not nullable: it cannot be cleared
    locale: Locale | None = None
    time_zone: TimeZone | None = None
    version: Version = None
