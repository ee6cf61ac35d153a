"""The media area's records and pure rules (no I/O).

A media record is one uploaded file: a photo of an answer, a signature, a
document or an avatar. It is ``pending`` from the moment the app hands out an
upload form until the uploader confirms it; confirming checks the stored
object and makes it ``ready`` (usable in answers and profiles) or ``rejected``
(its object deleted). ``deleted`` is what the collector leaves of a ready
file that nothing uses any more. Images of a ready record are thumbnailed in
the background: ``thumbnails`` goes ``pending`` -> ``ready`` (or ``failed``
for an image that decodes but cannot be scaled, or ``none`` for a PDF).

Which types a purpose takes (by their magic bytes, not by name):

=============  ==============================================
purpose        types
=============  ==============================================
answer_photo   image/jpeg, image/png, image/webp, image/heic
signature      image/png, image/jpeg, image/webp
document       application/pdf, image/jpeg, image/png
avatar         image/jpeg, image/png, image/webp, image/heic
=============  ==============================================

Each purpose has a size limit (:class:`MediaPolicy`, from the settings).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from prework.errors import TooLarge, ValidationFailed

__all__ = [
    "ALLOWED_TYPES",
    "IMAGE_TYPES",
    "MAX_FILENAME_LENGTH",
    "Media",
    "MediaPolicy",
    "MediaState",
    "Purpose",
    "Target",
    "ThumbnailState",
    "check_declared",
    "check_filename",
]

MAX_FILENAME_LENGTH: Final = 255


class Purpose(StrEnum):
    ANSWER_PHOTO = "answer_photo"
    SIGNATURE = "signature"
    DOCUMENT = "document"
    AVATAR = "avatar"


class MediaState(StrEnum):
    PENDING = "pending"
    READY = "ready"
    REJECTED = "rejected"
    DELETED = "deleted"


class ThumbnailState(StrEnum):
    NONE = "none"  # not an image
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic"})
ALLOWED_TYPES: Final[Mapping[Purpose, frozenset[str]]] = {
    Purpose.ANSWER_PHOTO: IMAGE_TYPES,
    Purpose.SIGNATURE: frozenset({"image/png", "image/jpeg", "image/webp"}),
    Purpose.DOCUMENT: frozenset({"application/pdf", "image/jpeg", "image/png"}),
    Purpose.AVATAR: IMAGE_TYPES,
}
# the answer kinds each purpose attaches to (checked against the template's item)
ITEM_KINDS: Final[Mapping[Purpose, str]] = {
    Purpose.ANSWER_PHOTO: "photo",
    Purpose.SIGNATURE: "signature",
}


@dataclass(frozen=True, slots=True)
class MediaPolicy:
    """Limits of uploads and of the links handed out (see the settings)."""

    max_bytes: Mapping[Purpose, int] = field(
        default_factory=lambda: {
            Purpose.ANSWER_PHOTO: 25 * 1024 * 1024,
            Purpose.SIGNATURE: 2 * 1024 * 1024,
            Purpose.DOCUMENT: 50 * 1024 * 1024,
            Purpose.AVATAR: 10 * 1024 * 1024,
        }
    )
    upload_expires_seconds: int = 600
    # a pending upload may still be confirmed this long after its form expired
    # (the body may have finished just in time); then the collector takes it
    confirm_grace_seconds: int = 3600
    download_expires_seconds: int = 300
    max_pixels: int = 50_000_000
    thumbnail_concurrency: int = 2
    # a ready file nothing refers to is kept this long (an answer may be saved
    # after the upload is confirmed), then collected
    detached_grace_seconds: int = 24 * 3600


@dataclass(frozen=True, slots=True)
class Target:
    """What a file attaches to: an assignment's item, an assignment (documents),
    or a user's profile (avatars)."""

    assignment_id: str | None = None
    item_id: str | None = None
    user_id: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self._pairs() if v is not None}

    def _pairs(self) -> list[tuple[str, str | None]]:
        return [
            ("assignment_id", self.assignment_id),
            ("item_id", self.item_id),
            ("user_id", self.user_id),
        ]

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Target:
        return cls(
            assignment_id=raw.get("assignment_id"),
            item_id=raw.get("item_id"),
            user_id=raw.get("user_id"),
        )


@dataclass(frozen=True, slots=True)
class Media:
    id: str
    org_id: str
    purpose: Purpose
    state: MediaState
    filename: str
    content_type: str  # declared; after confirm the sniffed type (they agree)
    size: int  # declared; after confirm the stored size (they agree)
    bucket: str
    key: str  # the confirmed original's (the upload's, while pending)
    target: Target
    created_by: str
    created_at: str
    upload_expires_at: str
    updated_at: str
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    captured_at: str | None = None
    thumbnails: ThumbnailState = ThumbnailState.NONE
    thumbnail_keys: Mapping[str, str] = field(default_factory=dict)
    rejection: str | None = None  # the code of the rejection
    confirmed_at: str | None = None
    version: int = 1
    # the last moment (epoch seconds) a pending upload may be confirmed: the form's
    # expiry plus the grace of the time it was handed out (also in its pending entry's key)
    deadline: int = 0
    upload_key: str = ""  # the staging key the form writes
    declared_sha256: str | None = None  # pinned in the form: the engine holds the body to it


def _bad(message: str, code: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, code=code, details=details)


def check_filename(filename: str) -> str:
    """The file's name as shown and offered for download: 1..255 characters, no
    control character, no path (``/`` or ``\\``); 422 ``invalid_filename``."""
    name = unicodedata.normalize("NFC", filename)
    if (
        not name.strip()
        or len(name) > MAX_FILENAME_LENGTH
        or any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in name)
        or "/" in name
        or "\\" in name
        or name in (".", "..")
    ):
        raise _bad(
            "The file name must be 1-255 characters, without control characters or a path.",
            "invalid_filename",
        )
    return name


def check_declared(policy: MediaPolicy, purpose: Purpose, content_type: str, size: int) -> str:
    """The declared type, normalized, if ``purpose`` takes it and ``size`` is within
    the purpose's limit: 422 ``unsupported_type`` / ``invalid_size``, 413 ``too_large``."""
    normalized = content_type.split(";", 1)[0].strip().lower()
    if normalized == "image/heif":
        normalized = "image/heic"
    allowed = ALLOWED_TYPES[purpose]
    if normalized not in allowed:
        raise _bad(
            f"A {purpose.value} is one of: {', '.join(sorted(allowed))}.",
            "unsupported_type",
            content_type=content_type[:100],
            allowed=sorted(allowed),
        )
    limit = policy.max_bytes[purpose]
    if size < 1:
        raise _bad("The file is empty.", "invalid_size")
    if size > limit:
        raise TooLarge(
            f"A {purpose.value} is at most {limit} bytes.",
            code="too_large",
            details={"max_bytes": limit, "size": size},
        )
    return normalized
