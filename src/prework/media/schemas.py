"""Request and response models of the media routes (``/api/media``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from prework.http.schemas import Strict
from prework.media.models import (
    MAX_FILENAME_LENGTH,
    Media,
    MediaState,
    Purpose,
    Target,
    ThumbnailState,
)
from prework.media.service import MediaLinks

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ContentType = Annotated[str, StringConstraints(min_length=3, max_length=127)]
Filename = Annotated[str, StringConstraints(min_length=1, max_length=MAX_FILENAME_LENGTH)]
MAX_DECLARED_SIZE = 2**53 - 1
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]

_ASSIGNMENT = "3f2a9c0e5b7d4e1f8a6b2c9d0e1f2a3b"


class TargetIn(Strict):
    assignment_id: Id | None = None
    item_id: ItemId | None = None
    user_id: Id | None = None

    def model(self) -> Target:
        return Target(assignment_id=self.assignment_id, item_id=self.item_id, user_id=self.user_id)


class UploadRequest(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "filename": "isolation-point.jpg",
                    "content_type": "image/jpeg",
                    "size": 2_481_337,
                    "purpose": "answer_photo",
                    "target": {"assignment_id": _ASSIGNMENT, "item_id": "isolation_photo"},
                }
            ]
        },
    )

    filename: Filename
    content_type: ContentType
    size: int = Field(strict=True, ge=1, le=MAX_DECLARED_SIZE)
    purpose: Purpose
    target: TargetIn = Field(default_factory=TargetIn)
    # the file's SHA-256 (hex): pinned in the form, so storage refuses another body
    sha256: Sha256 | None = None


class ConfirmRequest(Strict):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"media_id": _ASSIGNMENT}]}
    )

    media_id: Id


class UploadForm(BaseModel):
    """POST ``fields`` and then the file, as the last part named ``file``, to ``url``
    (a multipart/form-data form, as S3's browser uploads)."""

    url: str
    fields: dict[str, str]
    expires_at: datetime


class TargetRead(BaseModel):
    assignment_id: str | None = None
    item_id: str | None = None
    user_id: str | None = None


class MediaRead(BaseModel):
    id: str
    purpose: Purpose
    state: MediaState
    filename: str
    content_type: str
    size: int
    target: TargetRead
    created_by: str
    created_at: str
    confirmed_at: str | None
    sha256: str | None
    width: int | None
    height: int | None
    captured_at: str | None
    thumbnails: ThumbnailState
    rejection: str | None
    # short-lived links (null until ready; thumbnails once made)
    download_url: str | None = None
    thumbnail_urls: dict[str, str] = Field(default_factory=dict)
    links_expire_at: datetime | None = None

    @classmethod
    def of(cls, media: Media, links: MediaLinks | None = None) -> MediaRead:
        extra: dict[str, Any] = {}
        if links is not None:
            extra = {
                "download_url": links.download_url,
                "thumbnail_urls": dict(links.thumbnail_urls),
                "links_expire_at": links.expires_at,
            }
        return cls(
            id=media.id,
            purpose=media.purpose,
            state=media.state,
            filename=media.filename,
            content_type=media.content_type,
            size=media.size,
            target=TargetRead(**media.target.as_dict()),
            created_by=media.created_by,
            created_at=media.created_at,
            confirmed_at=media.confirmed_at,
            sha256=media.sha256,
            width=media.width,
            height=media.height,
            captured_at=media.captured_at,
            thumbnails=media.thumbnails,
            rejection=media.rejection,
            **extra,
        )


class UploadGranted(BaseModel):
    media: MediaRead
    upload: UploadForm
