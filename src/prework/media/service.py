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
run periodically).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import tempfile
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
from prework.core import audit
from prework.core.audit import SYSTEM, Actor
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
from prework.media.inspect import SNIFF_BYTES, ImageRefused, inspect_image, sniff
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
from prework.media.thumbnails import THUMBNAIL_SIZES, make_thumbnails
from prework.pubsub.base import PubSub, org_topic
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

TARGET: Final = "media"
SPOOL_IN_MEMORY: Final = 256 * 1024  # a spooled copy past this goes to a temp file
HASH_BATCH: Final = 256 * 1024  # hashed in a worker thread this much at a time
RECORD_KEPT_SECONDS: Final = 24 * 3600  # a pending record outlives its deadline this long
THUMB_JOB_STALE_SECONDS: Final = 300  # a job untouched this long is picked up again
MAX_THUMBNAIL_ATTEMPTS: Final = 5  # a job picked up this often records thumbnails: failed
MAX_QUEUED_COPIES: Final = 64  # past this many thumbnails queued, they read the file again


def _not_found() -> NotFound:
    return NotFound("No such file.", code="not_found")


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
        self.bytes_read = 0  # read back from storage by confirm and thumbnailing
        # thumbnails decode pixels: a few at once; a confirm reads an image's header
        # only, in anyio's default worker threads, never queued behind thumbnails
        self._limiter = anyio.CapacityLimiter(self.policy.thumbnail_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight: set[str] = set()  # media ids whose thumbnails this node is making

    # ------------------------------------------------------------------ helpers
    def _event(
        self,
        principal: Principal | None,
        ctx: RequestContext | None,
        media: Media,
        action: str,
        **details: Any,
    ) -> TransactOp:
        return audit.event_op(
            org_id=media.org_id,
            action=action,
            actor=Actor.of(principal) if principal is not None else SYSTEM,
            ctx=ctx or RequestContext(),
            target_type=TARGET,
            target_id=media.id,
            details={
                "purpose": media.purpose.value,
                **media.target.as_dict(),
                **details,
            },
            clock=self.clock,
        )

    async def _load(self, org_id: str, media_id: str) -> tuple[Media, dict[str, Any]]:
        item = await self.store.get(repo.MEDIA, repo.media_key(org_id, media_id))
        if not repo.is_record(item, org_id):
            raise _not_found()
        assert item is not None
        return repo.media_of(item), item

    async def _announce(self, media: Media, kind: str, **data: Any) -> None:
        event = {
            "type": kind,
            "org_id": media.org_id,
            "at": iso(self.clock()),
            "media_id": media.id,
            "purpose": media.purpose.value,
            **media.target.as_dict(),
            **data,
        }
        try:
            await self.pubsub.publish(org_topic(media.org_id), event)
        except PreworkError:
            log.exception("publish_failed", event_type=kind)

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
        media, _ = await self._load(principal.org_id, media_id)
        if media.created_by != principal.user_id:
            raise _not_found()  # a pending upload is its uploader's business
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
            spool = await self._read(media, media.upload_key, whole=whole)
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
            head = await anyio.to_thread.run_sync(_head_of, spool.file)
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
                self._spawn(ready, spool.file)
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

    async def _read(self, media: Media, key: str, *, whole: bool) -> _Spool:
        """The object at ``key`` (``whole``) or its first bytes, into a spooled
        temporary file, hashed on the way when whole."""
        spool = _Spool(tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY))  # noqa: SIM115
        digest = hashlib.sha256()
        batch = bytearray()
        try:
            async with await self.blobs.get(media.bucket, key) as stream:
                spool.etag = stream.info.etag
                async for chunk in stream:
                    self.bytes_read += len(chunk)
                    batch += chunk
                    if len(batch) >= HASH_BATCH:
                        data = bytes(batch)
                        batch.clear()
                        await anyio.to_thread.run_sync(_take, digest, spool.file, data)
                    if not whole and spool.file.tell() + len(batch) >= SNIFF_BYTES:
                        break
                if batch:
                    await anyio.to_thread.run_sync(_take, digest, spool.file, bytes(batch))
        except BaseException:
            spool.file.close()
            raise
        spool.sha256 = digest.hexdigest() if whole else None
        spool.file.seek(0)
        return spool

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
            current, _ = await self._load(media.org_id, media.id)
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
    def _spawn(self, media: Media, source: IO[bytes] | None) -> None:
        """Make the thumbnails in the background (from ``source``, the copy confirm
        read, if given; else read again), once per file on this node."""
        if media.id in self._inflight:
            if source is not None:
                source.close()
            return
        if source is not None and len(self._inflight) >= MAX_QUEUED_COPIES:
            source.close()  # a burst: no more open copies; this job reads it again
            source = None
        self._inflight.add(media.id)
        task = asyncio.create_task(self._thumbnail(media, source), name=f"thumbnail-{media.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._inflight.discard(media.id))
        if source is not None:  # also when cancelled before it ran (a shutdown)
            task.add_done_callback(lambda _: source.close())

    async def _thumbnail(self, media: Media, source: IO[bytes] | None) -> None:
        """Make and store the thumbnails of a ready image; record them (or the
        failure), then drop the job. Any other trouble leaves the job for later."""
        try:
            async with self._limiter:  # a few at once: reading, decoding, writing
                await self._touch(media)  # being worked on: nobody claims it now
                if source is None:
                    source = (await self._read(media, media.key, whole=True)).file
                source.seek(0)
                try:
                    made = await anyio.to_thread.run_sync(
                        _thumbnails, source, self.policy.max_pixels
                    )
                except ImageRefused as exc:
                    log.warning("thumbnail_failed", media_id=media.id, code=exc.code)
                    await self._thumbnails_done(media, ThumbnailState.FAILED, {})
                    return
                keys: dict[str, str] = {}
                for size, thumb in made.items():
                    key = repo.thumbnail_key(media.org_id, media.id, size)
                    await self.blobs.put(
                        "thumbnails", key, thumb.data, content_type=thumb.content_type
                    )
                    keys[size] = key
            await self._thumbnails_done(media, ThumbnailState.READY, keys)
        except Exception:
            log.exception("thumbnail_error", media_id=media.id)
        finally:
            if source is not None:
                source.close()

    async def _touch(self, media: Media) -> None:
        with contextlib.suppress(PreworkError):
            await self.store.update(
                repo.MEDIA,
                repo.thumb_job_key(media.org_id, media.id),
                UpdateSpec(set={"touched_at": int(self.clock())}),
                condition=ItemExists(),
            )

    async def _thumbnails_done(
        self, media: Media, state: ThumbnailState, keys: Mapping[str, str]
    ) -> None:
        now = iso(self.clock())
        done = replace(media, thumbnails=state, thumbnail_keys=dict(keys))
        try:
            await self.store.transact_write(
                [
                    Update(
                        repo.MEDIA,
                        repo.media_key(media.org_id, media.id),
                        UpdateSpec(
                            set={
                                "thumbnails": state.value,
                                "thumbnail_keys": dict(keys),
                                "updated_at": now,
                            }
                        ),
                        condition=All(
                            ItemExists(),
                            AttrEquals("state", MediaState.READY.value),
                            AttrEquals("thumbnails", ThumbnailState.PENDING.value),
                        ),
                    ),
                    Delete(repo.MEDIA, repo.thumb_job_key(media.org_id, media.id)),
                    self._event(None, None, media, "media.thumbnailed", thumbnails=state.value),
                ]
            )
        except TransactionCanceled:  # done by another node, or the file is gone
            await self.store.delete(repo.MEDIA, repo.thumb_job_key(media.org_id, media.id))
            return
        except WriteConflict:
            return  # raced: the job stays, picked up again later
        await self._announce(done, "media.thumbnails", thumbnails=state.value)

    async def resume_thumbnails(self) -> int:
        """Start the thumbnails of every job nobody touched for a while (a server
        that died after a confirm, or a failure); the number started. A job tried
        :data:`MAX_THUMBNAIL_ATTEMPTS` times records ``thumbnails: failed``."""
        stale = int(self.clock()) - THUMB_JOB_STALE_SECONDS
        started = 0
        for shard in range(repo.SHARDS):
            cursor: str | None = None
            while True:
                page = await self.store.query(
                    repo.MEDIA, pk=repo.thumb_job_pk(shard), limit=100, cursor=cursor
                )
                for job in page.items:
                    if int(job.get("touched_at") or 0) > stale:
                        continue
                    if job["media_id"] not in self._inflight and await self._claim(job):
                        started += await self._resume(job)
                cursor = page.cursor
                if cursor is None:
                    break
        return started

    async def _resume(self, job: Mapping[str, Any]) -> int:
        job_key = {"pk": job["pk"], "sk": job["sk"]}
        try:
            media, _ = await self._load(job["org_id"], job["media_id"])
        except NotFound:
            await self.store.delete(repo.MEDIA, job_key)
            return 0
        if media.state is not MediaState.READY or media.thumbnails is not ThumbnailState.PENDING:
            await self.store.delete(repo.MEDIA, job_key)  # deleted, or done meanwhile
            return 0
        if int(job.get("attempts") or 0) >= MAX_THUMBNAIL_ATTEMPTS:
            log.warning("thumbnail_given_up", media_id=media.id)
            await self._thumbnails_done(media, ThumbnailState.FAILED, {})
            return 0
        self._spawn(media, None)
        return 1

    async def _claim(self, job: Mapping[str, Any]) -> bool:
        """Take a stale job (one node wins it), counting the attempt."""
        try:
            await self.store.transact_write(
                [
                    Update(
                        repo.MEDIA,
                        {"pk": job["pk"], "sk": job["sk"]},
                        UpdateSpec(set={"touched_at": int(self.clock())}, add={"attempts": 1}),
                        condition=All(ItemExists(), AttrEquals("touched_at", job["touched_at"])),
                    )
                ]
            )
        except (TransactionCanceled, WriteConflict):
            return False
        return True

    async def drain(self) -> None:
        """Wait for the thumbnails being made (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # ------------------------------------------------------------------ reads
    async def _readable(self, principal: Principal, ctx: RequestContext, media_id: str) -> Media:
        await authorize(
            self.store, principal, ctx, Action.MEDIA_READ, target_type=TARGET, target_id=media_id
        )
        media, _ = await self._load(principal.org_id, media_id)
        if media.state is MediaState.PENDING and media.created_by != principal.user_id:
            raise _not_found()
        if media.target.assignment_id is not None:
            try:
                await self.answers.readable(principal, ctx, media.target.assignment_id)
            except NotFound:
                raise _not_found() from None
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


@dataclass(slots=True)
class _Spool:
    file: IO[bytes]
    sha256: str | None = None
    etag: str | None = None  # of the version read


def _take(digest: Any, file: IO[bytes], data: bytes) -> None:
    digest.update(data)
    file.write(data)


def _head_of(file: IO[bytes]) -> bytes:
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    file.seek(0)
    return head


def _inspect(file: IO[bytes], max_pixels: int) -> Any:
    file.seek(0)
    try:
        return inspect_image(cast(BinaryIO, file), max_pixels=max_pixels)
    finally:
        file.seek(0)


def _thumbnails(file: IO[bytes], max_pixels: int) -> Any:
    file.seek(0)
    return make_thumbnails(cast(BinaryIO, file), max_pixels=max_pixels)
