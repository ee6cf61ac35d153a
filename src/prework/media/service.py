"""Uploads straight to storage, their confirmation, thumbnails and delivery.

The flow (the seed's): :meth:`MediaService.request_upload` checks the target
and the declared file, writes a ``pending`` record and hands out a presigned
POST form pinning the exact key, the content type and the exact size; the
client uploads to storage (S3: no byte passes through the app), at a staging
key; :meth:`MediaService.confirm` looks at what was stored, copies it (S3: a
server-side copy) to its final key on the condition that it is still the very
version it checked (the form stays valid for its whole life, and nothing it
writes later is ever served), and makes the record ``ready`` or ``rejected``;
:meth:`MediaService.get` hands out short-lived links (signed CDN URLs if a CDN
is configured, else presigned GETs).

Confirming reads the object back once: an image whole (it is inspected and
thumbnailed from that one read, kept in a spooled temporary file), a PDF only
its first bytes when the engine reports the object's SHA-256 (the file
engine records it on upload), else streamed through a hash. What it reads is
counted in :attr:`MediaService.bytes_read` (the benchmark reports it).

Thumbnails are made in a worker thread, at most ``thumbnail_concurrency`` at
once per process; the record says ``thumbnails: pending`` and a job item
stays in the store until they are written, so a server that died in between
makes them when it starts again (:meth:`MediaService.resume_thumbnails`, also
run periodically; see :mod:`prework.media.thumbnailing`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import IO, Any, BinaryIO, Final, cast

import anyio
import anyio.to_thread
import structlog

from prework.authz.authorize import authorize
from prework.blobs.base import BlobStore, PresignedUpload
from prework.blobs.cdn import CdnSigner
from prework.checklists.editing import DocEditing
from prework.core.clock import Clock, iso, system_clock
from prework.core.ids import new_id
from prework.core.principal import Principal, RequestContext
from prework.errors import (
    ConditionFailed,
    Conflict,
    NotFound,
    PreworkError,
    TooLarge,
    TransactionCanceled,
    ValidationFailed,
    WriteConflict,
)
from prework.identity.profiles import ProfileService
from prework.media import repository as repo
from prework.media._shared import (
    TARGET,
    ReadCounter,
    announce,
    event_op,
    head_of,
    load,
    not_found,
    read_copy,
)
from prework.media.inspect import ImageRefused, inspect_image, sniff
from prework.media.models import (
    IMAGE_TYPES,
    ITEM_KINDS,
    Media,
    MediaPolicy,
    MediaState,
    Purpose,
    Target,
    ThumbnailState,
    check_declared,
    check_filename,
)
from prework.media.permissions import MediaAction as Action
from prework.media.thumbnailing import Thumbnailer
from prework.media.thumbnails import THUMBNAIL_SIZES
from prework.pubsub.base import PubSub
from prework.store.base import (
    All,
    AttrEquals,
    Delete,
    ItemExists,
    ItemNotExists,
    Key,
    Put,
    Store,
    TransactOp,
    Update,
    UpdateSpec,
    version_equals,
)

__all__ = ["MediaLinks", "MediaService"]

log = structlog.get_logger("prework.media")

RECORD_KEPT_SECONDS: Final = 24 * 3600  # a pending record outlives its deadline this long


def _rejection(code: str, message: str, **details: Any) -> PreworkError:
    if code == "too_large":
        return TooLarge(message, code=code, details=details)
    return ValidationFailed(message, code=code, details=details)


REJECTION_MESSAGES: Final[Mapping[str, str]] = {
    "content_mismatch": "The file's content is not of the declared type.",
    "too_large": "The stored file is larger than declared.",
    "size_mismatch": "The stored file is not of the declared size.",
    "image_too_large": "The image has too many pixels.",
}


@dataclass(frozen=True, slots=True)
class MediaLinks:
    """A record and the links of it the caller may follow (short-lived)."""

    media: Media
    download_url: str | None = None
    thumbnail_urls: Mapping[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None


class MediaService:
    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        pubsub: PubSub,
        *,
        answers: DocEditing,
        profiles: ProfileService,
        policy: MediaPolicy | None = None,
        cdn: CdnSigner | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.pubsub = pubsub
        self.answers = answers
        self.profiles = profiles
        self.policy = policy or MediaPolicy()
        self.cdn = cdn
        self.clock = clock
        self.reads = ReadCounter()  # read back from storage by confirm and thumbnailing
        self.thumbnails = Thumbnailer(
            store, blobs, pubsub, policy=self.policy, reads=self.reads, clock=clock
        )

    # ------------------------------------------------------------------ helpers
    def _event(
        self,
        principal: Principal | None,
        ctx: RequestContext | None,
        media: Media,
        action: str,
        **details: Any,
    ) -> TransactOp:
        return event_op(media, action, clock=self.clock, principal=principal, ctx=ctx, **details)

    async def _announce(self, media: Media, kind: str, **data: Any) -> None:
        await announce(self.pubsub, media, kind, clock=self.clock, **data)

    # ------------------------------------------------------------------ upload
    async def _check_target(
        self, principal: Principal, ctx: RequestContext, purpose: Purpose, target: Target
    ) -> Target:
        def invalid(message: str) -> ValidationFailed:
            return ValidationFailed(message, code="invalid_target", details=target.as_dict())

        if purpose is Purpose.AVATAR:
            if target.assignment_id is not None or target.item_id is not None:
                raise invalid("An avatar attaches to a profile, not to an assignment.")
            if target.user_id not in (None, principal.user_id):
                raise invalid("An avatar is uploaded for one's own profile.")
            return Target(user_id=principal.user_id)
        if target.user_id is not None or target.assignment_id is None:
            raise invalid(f"A {purpose.value} attaches to an assignment.")
        kind = ITEM_KINDS.get(purpose)
        if kind is not None and target.item_id is None:
            raise invalid(f"A {purpose.value} attaches to an item of the assignment.")
        await self.answers.attachable(principal, ctx, target.assignment_id, target.item_id, kind)
        return target

    async def request_upload(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        filename: str,
        content_type: str,
        size: int,
        purpose: Purpose,
        target: Target,
        sha256: str | None = None,
    ) -> tuple[Media, PresignedUpload]:
        """A pending record and the form to upload the file with (see the module).
        With ``sha256`` (hex) the form pins the file's checksum: the engine refuses
        another body, and confirm need not read the file to hash it."""
        await authorize(self.store, principal, ctx, Action.MEDIA_UPLOAD)
        name = check_filename(filename)
        declared = check_declared(self.policy, purpose, content_type, size)
        target = await self._check_target(principal, ctx, purpose, target)
        org = principal.org_id
        media_id = new_id()
        bucket = repo.bucket_for(declared)
        key = repo.upload_key(org, media_id)
        form = await self.blobs.presign_upload(
            bucket,
            key,
            content_type=declared,
            min_size=size,
            max_size=size,
            expires_in=self.policy.upload_expires_seconds,
            checksum_sha256=sha256,
        )
        now = iso(self.clock())
        deadline = int(form.expires_at.timestamp()) + self.policy.confirm_grace_seconds
        media = Media(
            id=media_id,
            org_id=org,
            purpose=purpose,
            state=MediaState.PENDING,
            filename=name,
            content_type=declared,
            size=size,
            bucket=bucket,
            key=key,
            target=target,
            created_by=principal.user_id,
            created_at=now,
            upload_expires_at=iso(form.expires_at.timestamp()),
            updated_at=now,
            deadline=deadline,
            upload_key=key,
            declared_sha256=sha256,
        )
        pending = {
            **repo.pending_key(org, media_id, deadline),
            "org_id": org,
            "media_id": media_id,
            "bucket": bucket,
            "key": key,
        }
        await self.store.transact_write(
            [
                Put(
                    repo.MEDIA,
                    repo.record_item(media, expires_at=deadline + RECORD_KEPT_SECONDS),
                    condition=ItemNotExists(),
                ),
                Put(repo.MEDIA, pending, condition=ItemNotExists()),
                self._event(
                    principal,
                    ctx,
                    media,
                    "media.upload_requested",
                    content_type=declared,
                    size=size,
                ),
            ]
        )
        return media, form

    # ------------------------------------------------------------------ confirm
    @staticmethod
    def _pending_key(media: Media) -> Key:
        return repo.pending_key(media.org_id, media.id, media.deadline)

    async def confirm(self, *, principal: Principal, ctx: RequestContext, media_id: str) -> Media:
        """Check the stored object against the declaration; ``ready`` or ``rejected``
        (its object deleted, the error raised). Confirming again answers the same."""
        await authorize(
            self.store, principal, ctx, Action.MEDIA_UPLOAD, target_type=TARGET, target_id=media_id
        )
        media = await load(self.store, principal.org_id, media_id)
        if media.created_by != principal.user_id:
            raise not_found()  # a pending upload is its uploader's business
        settled = self._settled(media)
        if settled is not None:
            return settled
        if self.clock() > media.deadline:
            raise Conflict(
                "The upload expired before it was confirmed; request a new upload URL.",
                code="upload_expired",
            )
        try:
            info = await self.blobs.head(media.bucket, media.upload_key)
        except NotFound:
            raise Conflict(
                "Nothing was uploaded yet: upload the file with the form, then confirm.",
                code="not_uploaded",
            ) from None
        if info.size != media.size:
            code = "too_large" if info.size > media.size else "size_mismatch"
            return await self._reject(principal, ctx, media, code, stored_size=info.size)
        whole = media.content_type in IMAGE_TYPES or not info.sha256
        try:
            spool = await read_copy(
                self.blobs, media.bucket, media.upload_key, whole=whole, counter=self.reads
            )
        except NotFound:  # gone since the HEAD: a concurrent confirm settled it
            return await self._outcome(media)
        keep_spool = False
        if spool.etag != info.etag:  # uploaded again between the HEAD and the read
            spool.file.close()
            raise Conflict(
                "The upload changed while it was being confirmed; confirm again.",
                code="upload_changed",
            )
        try:
            head = await anyio.to_thread.run_sync(head_of, spool.file)
            real = sniff(head)
            if real != media.content_type:
                return await self._reject(principal, ctx, media, "content_mismatch", found=real)
            facts: dict[str, Any] = {}
            if real in IMAGE_TYPES:
                try:
                    image = await anyio.to_thread.run_sync(
                        _inspect, spool.file, self.policy.max_pixels
                    )
                except ImageRefused as exc:
                    return await self._reject(principal, ctx, media, exc.code)
                facts = {
                    "width": image.width,
                    "height": image.height,
                    "captured_at": image.captured_at,
                }
            sha256 = info.sha256 or spool.sha256
            assert sha256 is not None  # read whole unless the engine reported it
            # a form that pins the checksum can only ever write these very bytes: the
            # file stays where it is; else it goes out of the form's reach, and only
            # the version checked
            pinned = media.declared_sha256 is not None and info.sha256 == media.declared_sha256
            final = media.upload_key if pinned else repo.object_key(media.org_id, media.id, sha256)
            if not pinned:
                try:
                    await self.blobs.copy(
                        media.bucket, media.upload_key, media.bucket, final, if_match=info.etag
                    )
                except ConditionFailed:
                    raise Conflict(
                        "The upload changed while it was being confirmed; confirm again.",
                        code="upload_changed",
                    ) from None
                except NotFound:
                    return await self._outcome(media)
            ready, won = await self._make_ready(
                principal, ctx, replace(media, key=final), sha256=sha256, facts=facts
            )
            if won and not pinned:
                with contextlib.suppress(PreworkError):  # else the collector takes it
                    await self.blobs.delete(media.bucket, media.upload_key)
            if won and ready.thumbnails is ThumbnailState.PENDING:
                keep_spool = True  # the thumbnails are made from this very copy
                self.thumbnails.spawn(ready, spool.file)
            return ready
        finally:
            if not keep_spool:
                spool.file.close()

    def _settled(self, media: Media) -> Media | None:
        """A confirmed record as it stands (ready: answered again; rejected or
        deleted: its error again); None while pending."""
        if media.state is MediaState.READY:
            return media
        if media.state is MediaState.REJECTED:
            code = media.rejection or "content_mismatch"
            raise _rejection(code, REJECTION_MESSAGES.get(code, "The file was rejected."))
        if media.state is MediaState.DELETED:
            raise Conflict("The file was deleted.", code="media_deleted")
        return None

    async def _make_ready(
        self,
        principal: Principal,
        ctx: RequestContext,
        media: Media,
        *,
        sha256: str | None,
        facts: Mapping[str, Any],
    ) -> tuple[Media, bool]:
        """The record made ready, and whether this call made it (else another
        confirm did, or the collector took the upload: its outcome)."""
        now = iso(self.clock())
        thumbnails = (
            ThumbnailState.PENDING if media.content_type in IMAGE_TYPES else ThumbnailState.NONE
        )
        fields: dict[str, Any] = {
            "state": MediaState.READY.value,
            "key": media.key,
            "sha256": sha256,
            "thumbnails": thumbnails.value,
            "confirmed_at": now,
            "updated_at": now,
            "version": media.version + 1,
            **facts,
        }
        ready = replace(
            media,
            state=MediaState.READY,
            sha256=sha256,
            thumbnails=thumbnails,
            confirmed_at=now,
            updated_at=now,
            version=media.version + 1,
            width=facts.get("width"),
            height=facts.get("height"),
            captured_at=facts.get("captured_at"),
        )
        ops: list[TransactOp] = [
            self._settle_op(media, fields),
            Delete(
                repo.MEDIA,
                self._pending_key(media),
                condition=ItemExists(),  # not collected meanwhile
            ),
            self._event(
                principal,
                ctx,
                media,
                "media.confirmed",
                content_type=media.content_type,
                size=media.size,
                sha256=sha256,
            ),
        ]
        if thumbnails is ThumbnailState.PENDING:
            ops.append(
                Put(
                    repo.MEDIA,
                    {
                        **repo.thumb_job_key(media.org_id, media.id),
                        "org_id": media.org_id,
                        "media_id": media.id,
                        "touched_at": int(self.clock()),
                    },
                )
            )
        if not await self._settle(ops):
            return await self._outcome(media), False
        await self._announce(ready, "media.ready", content_type=ready.content_type)
        return ready, True

    def _settle_op(self, media: Media, fields: Mapping[str, Any]) -> TransactOp:
        return Update(
            repo.MEDIA,
            repo.media_key(media.org_id, media.id),
            UpdateSpec(set=dict(fields), remove=["expires_at"]),
            condition=All(
                ItemExists(),
                AttrEquals("state", MediaState.PENDING.value),
                version_equals(media.version),
            ),
        )

    async def _settle(self, ops: list[TransactOp]) -> bool:
        """Write a pending record's outcome; False when another confirm (or the
        collector) settled it first."""
        try:
            await self.store.transact_write(ops)
        except (TransactionCanceled, WriteConflict):
            return False
        return True

    async def _outcome(self, media: Media) -> Media:
        """What another confirm (or the collector) made of the record; for a record
        still pending, 409: ``upload_expired`` once collected, else
        ``transaction_conflict`` (a write raced this one: confirm again)."""
        expired = Conflict(
            "The upload expired before it was confirmed; request a new upload URL.",
            code="upload_expired",
        )
        try:
            current = await load(self.store, media.org_id, media.id)
        except NotFound:
            raise expired from None
        settled = self._settled(current)
        if settled is not None:
            return settled
        if await self.store.get(repo.MEDIA, self._pending_key(current)) is None:
            raise expired
        raise WriteConflict("Another change to the upload raced this one; confirm again.")

    async def _reject(
        self, principal: Principal, ctx: RequestContext, media: Media, code: str, **details: Any
    ) -> Media:
        """Record the rejection (and its audit event), delete the object, raise."""
        now = iso(self.clock())
        fields = {
            "state": MediaState.REJECTED.value,
            "rejection": code,
            "updated_at": now,
            "version": media.version + 1,
        }
        written = await self._settle(
            [
                self._settle_op(media, fields),
                Delete(repo.MEDIA, self._pending_key(media)),
                self._event(principal, ctx, media, "media.rejected", code=code, **details),
            ]
        )
        if not written:
            return await self._outcome(media)
        with contextlib.suppress(PreworkError):  # else the collector deletes it
            await self.blobs.delete(media.bucket, media.upload_key)
        await self._announce(media, "media.rejected", code=code)
        raise _rejection(code, REJECTION_MESSAGES[code], **details)

    # ------------------------------------------------------------------ thumbnails
    @property
    def bytes_read(self) -> int:
        """Bytes read back from storage by confirms and thumbnails (the bench's)."""
        return self.reads.total

    async def resume_thumbnails(self) -> int:
        """Thumbnails a dead server (or a failure) left unmade: started again."""
        return await self.thumbnails.resume()

    async def drain(self) -> None:
        """Wait for the thumbnails being made (tests, shutdown)."""
        await self.thumbnails.drain()

    def close(self) -> None:
        self.thumbnails.close()

    # ------------------------------------------------------------------ reads
    async def _readable(self, principal: Principal, ctx: RequestContext, media_id: str) -> Media:
        await authorize(
            self.store, principal, ctx, Action.MEDIA_READ, target_type=TARGET, target_id=media_id
        )
        media = await load(self.store, principal.org_id, media_id)
        if media.state is MediaState.PENDING and media.created_by != principal.user_id:
            raise not_found()
        if media.target.assignment_id is not None:
            try:
                await self.answers.readable(principal, ctx, media.target.assignment_id)
            except NotFound:
                raise not_found() from None
        return media

    async def _link(self, bucket: str, key: str, filename: str | None) -> tuple[str, datetime]:
        expires_in = self.policy.download_expires_seconds
        expires_at = datetime.fromtimestamp(int(self.clock()) + expires_in, UTC)
        if self.cdn is not None:
            return self.cdn.url(bucket, key, expires_at=expires_at, filename=filename), expires_at
        url = await self.blobs.presign_download(
            bucket, key, expires_in=expires_in, filename=filename
        )
        return url, expires_at

    async def get(self, *, principal: Principal, ctx: RequestContext, media_id: str) -> MediaLinks:
        """The record, with links to the file and its thumbnails once ready."""
        media = await self._readable(principal, ctx, media_id)
        if media.state is not MediaState.READY:
            return MediaLinks(media)
        url, expires_at = await self._link(media.bucket, media.key, media.filename)
        thumbs: dict[str, str] = {}
        if media.thumbnails is ThumbnailState.READY:
            for size in THUMBNAIL_SIZES:
                key = media.thumbnail_keys.get(size)
                if key is not None:
                    thumbs[size], _ = await self._link("thumbnails", key, None)
        return MediaLinks(media, url, thumbs, expires_at)

    async def content_url(self, *, principal: Principal, ctx: RequestContext, media_id: str) -> str:
        """Where the file's content is (a short-lived link); 409 ``media_not_ready``."""
        links = await self.get(principal=principal, ctx=ctx, media_id=media_id)
        if links.download_url is None:
            raise Conflict(
                f"The file is {links.media.state.value}: it has no content to serve.",
                code="media_not_ready",
            )
        return links.download_url


def _inspect(file: IO[bytes], max_pixels: int) -> Any:
    file.seek(0)
    try:
        return inspect_image(cast(BinaryIO, file), max_pixels=max_pixels)
    finally:
        file.seek(0)
