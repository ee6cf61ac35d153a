"""Every key and item shape of the media area (table ``media``, the seed's
``pre-work-media``) and of its objects: the only code that knows them. See
docs/data-model.md, "media".

* record: ``ORG#<org>`` / ``MEDIA#<id>``; while pending it expires
  (``expires_at``: the confirm deadline plus a day, so an abandoned record
  goes even if no collector runs); gsi1 by what it attaches to:
  ``ORG#<org>#ON#<assignment or user>`` / ``<created_at>#<id>``.
* pending upload: ``MEDIA#PENDING#<shard>`` / ``<deadline>#<org>#<id>`` (never
  expires: the collector finds every upload nobody confirmed, also after
  its record expired and vanished from reads), written with the record and
  deleted when it is confirmed or collected.
* thumbnail job: ``MEDIA#THUMBS#<shard>`` / ``<org>#<id>``, written when a
  record becomes ready with ``thumbnails: pending``, deleted when the
  thumbnails are written: what a restarted server picks up again.

Objects, in bucket ``media`` (images) or ``documents`` (PDFs): the upload at the
staging key ``upload/<org>/<id>`` (what the form may write, for as long as it
lives), the confirmed original at ``org/<org>/<id>/<sha256>`` (copied there by
the confirm, on the condition that the upload is still the version it checked;
no client can write it); thumbnails at ``org/<org>/<id>/<size>.jpg`` in bucket
``thumbnails``. Within a bucket no key is also the folder of another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from prework.media.models import Media, MediaState, Purpose, Target, ThumbnailState
from prework.store.base import Key

__all__ = [
    "MEDIA",
    "OBJECT_PREFIX",
    "SHARDS",
    "UPLOAD_PREFIX",
    "bucket_for",
    "deadline_bound",
    "is_record",
    "media_key",
    "media_of",
    "object_key",
    "parse_object_key",
    "pending_key",
    "pending_pk",
    "record_item",
    "shard_of",
    "target_pk",
    "thumb_job_key",
    "thumb_job_pk",
    "thumbnail_key",
    "upload_key",
]

MEDIA: Final = "media"
SHARDS: Final = 4  # partitions of the pending and thumbnail indexes
OBJECT_PREFIX: Final = "org/"
UPLOAD_PREFIX: Final = "upload/"
_DEADLINE_DIGITS: Final = 12


def media_key(org_id: str, media_id: str) -> Key:
    return {"pk": f"ORG#{org_id}", "sk": f"MEDIA#{media_id}"}


def target_pk(org_id: str, target: Target) -> str:
    return f"ORG#{org_id}#ON#{target.assignment_id or target.user_id}"


def shard_of(media_id: str) -> int:
    return int(media_id[:2], 16) % SHARDS


def pending_pk(shard: int) -> str:
    return f"MEDIA#PENDING#{shard}"


def pending_key(org_id: str, media_id: str, deadline: int) -> Key:
    return {
        "pk": pending_pk(shard_of(media_id)),
        "sk": f"{deadline:0{_DEADLINE_DIGITS}d}#{org_id}#{media_id}",
    }


def deadline_bound(deadline: int) -> str:
    """The pending index's sort key bound of every upload due by ``deadline``."""
    return f"{deadline:0{_DEADLINE_DIGITS}d}#\U0010ffff"


def thumb_job_pk(shard: int) -> str:
    return f"MEDIA#THUMBS#{shard}"


def thumb_job_key(org_id: str, media_id: str) -> Key:
    return {"pk": thumb_job_pk(shard_of(media_id)), "sk": f"{org_id}#{media_id}"}


def bucket_for(content_type: str) -> str:
    return "documents" if content_type == "application/pdf" else "media"


def upload_key(org_id: str, media_id: str) -> str:
    """Where the presigned form uploads to (the staging key)."""
    return f"{UPLOAD_PREFIX}{org_id}/{media_id}"


def object_key(org_id: str, media_id: str, sha256: str) -> str:
    """Where a confirmed file is kept: named by its content, so two confirms that
    checked different uploads never write the same object."""
    return f"{OBJECT_PREFIX}{org_id}/{media_id}/{sha256}"


def thumbnail_key(org_id: str, media_id: str, size: str) -> str:
    return f"{OBJECT_PREFIX}{org_id}/{media_id}/{size}.jpg"


def parse_object_key(key: str) -> tuple[str, str, str] | None:
    """``(kind, org, media id)`` of an object key of this area: kind ``upload``
    (a staging object), ``file`` (a confirmed original) or ``thumbnail``."""
    parts = key.split("/")
    if len(parts) == 3 and parts[0] == UPLOAD_PREFIX.rstrip("/"):
        kind = "upload"
    elif len(parts) == 4 and parts[0] == OBJECT_PREFIX.rstrip("/"):
        kind = "thumbnail" if parts[3].endswith(".jpg") else "file"
    else:
        return None
    org_id, media_id = parts[1], parts[2]
    if not org_id or len(media_id) != 32:
        return None
    return kind, org_id, media_id


def record_item(media: Media, *, expires_at: int | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        **media_key(media.org_id, media.id),
        "type": "media",
        "id": media.id,
        "org_id": media.org_id,
        "purpose": media.purpose.value,
        "state": media.state.value,
        "filename": media.filename,
        "content_type": media.content_type,
        "size": media.size,
        "bucket": media.bucket,
        "key": media.key,
        "upload_key": media.upload_key,
        "declared_sha256": media.declared_sha256,
        "target": media.target.as_dict(),
        "created_by": media.created_by,
        "created_at": media.created_at,
        "upload_expires_at": media.upload_expires_at,
        "updated_at": media.updated_at,
        "thumbnails": media.thumbnails.value,
        "thumbnail_keys": dict(media.thumbnail_keys),
        "version": media.version,
        "deadline": media.deadline,
        "gsi1pk": target_pk(media.org_id, media.target),
        "gsi1sk": f"{media.created_at}#{media.id}",
    }
    if expires_at is not None:
        item["expires_at"] = expires_at
    return item


def is_record(item: Mapping[str, Any] | None, org_id: str) -> bool:
    return item is not None and item.get("type") == "media" and item.get("org_id") == org_id


def media_of(item: Mapping[str, Any]) -> Media:
    return Media(
        id=item["id"],
        org_id=item["org_id"],
        purpose=Purpose(item["purpose"]),
        state=MediaState(item["state"]),
        filename=item["filename"],
        content_type=item["content_type"],
        size=int(item["size"]),
        bucket=item["bucket"],
        key=item["key"],
        upload_key=item.get("upload_key") or item["key"],
        declared_sha256=item.get("declared_sha256"),
        target=Target.of(item.get("target") or {}),
        created_by=item["created_by"],
        created_at=item["created_at"],
        upload_expires_at=item["upload_expires_at"],
        updated_at=item["updated_at"],
        sha256=item.get("sha256"),
        width=item.get("width"),
        height=item.get("height"),
        captured_at=item.get("captured_at"),
        thumbnails=ThumbnailState(item.get("thumbnails") or "none"),
        thumbnail_keys=dict(item.get("thumbnail_keys") or {}),
        rejection=item.get("rejection"),
        confirmed_at=item.get("confirmed_at"),
        version=int(item.get("version") or 1),
        deadline=int(item.get("deadline") or 0),
    )
