"""Thumbnails of ready images, made in the background and resumable.

A confirm hands its copy of the image to :meth:`Thumbnailer.spawn`; the
thumbnails (:mod:`prework.media.thumbnails`: two sizes, upright, no metadata)
are made in a worker thread, at most ``thumbnail_concurrency`` files at once per
process (reading, decoding, writing), written to the thumbnails bucket and
recorded on the media record, and the job item the confirm wrote is deleted in
the same transaction. A job nobody touched for :data:`THUMB_JOB_STALE_SECONDS`
(a server that died, a failure) is claimed by any server (:meth:`Thumbnailer.resume`,
run periodically) and done again; after :data:`MAX_THUMBNAIL_ATTEMPTS` the record
says ``thumbnails: failed``. Past :data:`MAX_QUEUED_COPIES` thumbnails queued on a
node, a job closes the copy it was given and reads the file again when its turn
comes (bounded open files).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import replace
from typing import IO, Any, BinaryIO, Final, cast

import anyio
import anyio.to_thread
import structlog

from prework.blobs.base import BlobStore
from prework.core.clock import Clock, iso
from prework.errors import NotFound, PreworkError, TransactionCanceled, WriteConflict
from prework.media import repository as repo
from prework.media._shared import ReadCounter, announce, event_op, load, read_copy
from prework.media.inspect import ImageRefused
from prework.media.models import Media, MediaPolicy, MediaState, ThumbnailState
from prework.media.thumbnails import make_thumbnails
from prework.pubsub.base import PubSub
from prework.store.base import All, AttrEquals, Delete, ItemExists, Store, Update, UpdateSpec

__all__ = ["MAX_THUMBNAIL_ATTEMPTS", "THUMB_JOB_STALE_SECONDS", "Thumbnailer"]

log = structlog.get_logger("prework.media")

THUMB_JOB_STALE_SECONDS: Final = 300  # a job untouched this long is picked up again
MAX_THUMBNAIL_ATTEMPTS: Final = 5  # a job picked up this often records thumbnails: failed
MAX_QUEUED_COPIES: Final = 64  # past this many thumbnails queued, they read the file again


class Thumbnailer:
    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        pubsub: PubSub,
        *,
        policy: MediaPolicy,
        reads: ReadCounter,
        clock: Clock,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.pubsub = pubsub
        self.policy = policy
        self.reads = reads
        self.clock = clock
        self._limiter = anyio.CapacityLimiter(policy.thumbnail_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight: set[str] = set()  # media ids whose thumbnails this node is making

    def spawn(self, media: Media, source: IO[bytes] | None) -> None:
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
                    source = (
                        await read_copy(
                            self.blobs, media.bucket, media.key, whole=True, counter=self.reads
                        )
                    ).file
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
                    event_op(media, "media.thumbnailed", clock=self.clock, thumbnails=state.value),
                ]
            )
        except TransactionCanceled:  # done by another node, or the file is gone
            await self.store.delete(repo.MEDIA, repo.thumb_job_key(media.org_id, media.id))
            return
        except WriteConflict:
            return  # raced: the job stays, picked up again later
        await announce(
            self.pubsub, done, "media.thumbnails", clock=self.clock, thumbnails=state.value
        )

    async def resume(self) -> int:
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
            media = await load(self.store, job["org_id"], job["media_id"])
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
        self.spawn(media, None)
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


def _thumbnails(file: IO[bytes], max_pixels: int) -> Any:
    file.seek(0)
    return make_thumbnails(cast(BinaryIO, file), max_pixels=max_pixels)
