"""The media collector (``prework gc``, and every ``media_gc_interval_seconds`` in
``prework serve``): it deletes what no one will use.

Two passes:

1. **Expired uploads.** The pending index (see :mod:`prework.media.repository`)
   lists every upload nobody confirmed, by deadline; one past its deadline
   loses its object, its index entry and its record (if the store still
   shows it; the record expires on its own a day later), with a
   ``media.expired`` event.
2. **Objects by listing** (every bucket, under ``upload/`` and ``org/``): an
   upload sent again after its confirm; an original a losing confirm copied; an object without a
   record (its record expired, or a crash) older than an upload's whole
   lifetime; the object of a rejected or deleted record; a thumbnail of a file
   that is not ready; and a ready file that nothing names any more (no answer
   of its assignment, no submission of it, not the avatar of its user) once it
   is ``detached_grace_seconds`` old: its objects are deleted and its record
   becomes ``deleted`` (kept, for the audit trail), with a ``media.deleted``
   event, in a transaction that also checks the answers document (or profile) is
   at the version whose answers were read: an answer naming the file meanwhile
   makes the collector leave it. A document stays as long as its assignment.

Every step is safe on several nodes at once (the record changes are
conditional). ``dry_run`` counts what would go and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from prework.blobs.base import BlobInfo, BlobStore
from prework.checklists.answering import MediaUse
from prework.checklists.editing import DocEditing
from prework.core.clock import Clock, iso, system_clock
from prework.errors import PreworkError, TransactionCanceled, WriteConflict
from prework.identity.profiles import ProfileService
from prework.media import lookup
from prework.media import repository as repo
from prework.media._shared import event_op
from prework.media.models import Media, MediaPolicy, MediaState, Purpose
from prework.store.base import (
    All,
    AttrEquals,
    Check,
    Delete,
    ItemExists,
    Store,
    TransactOp,
    Update,
    UpdateSpec,
)

__all__ = ["Collector", "GcReport", "Progress"]

log = structlog.get_logger("prework.media.gc")

Progress = Callable[[str, int], None]
"""Called with a phase name and how many more items were looked at."""

_PAGE = 1000
_LISTED = tuple(
    (bucket, prefix)
    for bucket in ("media", "documents", "thumbnails")
    for prefix in (repo.UPLOAD_PREFIX, repo.OBJECT_PREFIX)
    if not (bucket == "thumbnails" and prefix == repo.UPLOAD_PREFIX)
)


@dataclass(slots=True)
class GcReport:
    expired_uploads: int = 0
    orphans: int = 0  # objects without a record
    rejected: int = 0  # objects of rejected / deleted records, stray thumbnails
    detached: int = 0  # ready files nothing names
    objects_deleted: int = 0
    bytes_freed: int = 0
    looked_at: int = 0
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "expired_uploads": self.expired_uploads,
            "orphans": self.orphans,
            "rejected": self.rejected,
            "detached": self.detached,
            "objects_deleted": self.objects_deleted,
            "bytes_freed": self.bytes_freed,
            "looked_at": self.looked_at,
            "failures": len(self.failures),
        }


class Collector:
    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        *,
        answers: DocEditing,
        profiles: ProfileService,
        policy: MediaPolicy,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.answers = answers
        self.profiles = profiles
        self.policy = policy
        self.clock = clock

    async def run(self, *, dry_run: bool = False, progress: Progress | None = None) -> GcReport:
        report = GcReport()
        tick = progress or (lambda phase, n: None)
        await self._expired_uploads(report, dry_run, tick)
        await self._listed(report, dry_run, tick)
        if report.failures:
            log.warning("gc_failures", count=len(report.failures), first=report.failures[0])
        return report

    async def sweep(self) -> int:
        """One run as the server's periodic task: the number of files collected."""
        report = await self.run()
        return report.expired_uploads + report.orphans + report.rejected + report.detached

    # ------------------------------------------------------------------ pass 1
    async def _expired_uploads(self, report: GcReport, dry_run: bool, tick: Progress) -> None:
        bound = repo.deadline_bound(int(self.clock()))
        for shard in range(repo.SHARDS):
            cursor: str | None = None
            while True:
                page = await self.store.query(
                    repo.MEDIA,
                    pk=repo.pending_pk(shard),
                    sk_lte=bound,
                    limit=_PAGE,
                    cursor=cursor,
                )
                for entry in page.items:
                    report.looked_at += 1
                    report.expired_uploads += 1
                    if not dry_run:
                        await self._expire(entry, report)
                tick("expired uploads", len(page.items))
                cursor = page.cursor
                if cursor is None:
                    break

    async def _expire(self, entry: Mapping[str, Any], report: GcReport) -> None:
        """Take an upload past its deadline: first its entry (and its record, if
        still pending), in one transaction a confirm cannot also win (it deletes
        the entry on the condition it exists); then, only if that committed, the
        object."""
        org_id, media_id = entry["org_id"], entry["media_id"]
        entry_key = {"pk": entry["pk"], "sk": entry["sk"]}
        found = (await lookup.load(self.store, org_id, [media_id])).get(media_id)
        ops: list[TransactOp] = [Delete(repo.MEDIA, entry_key, condition=ItemExists())]
        if found is not None and found.state is MediaState.PENDING:
            ops.append(
                Delete(
                    repo.MEDIA,
                    repo.media_key(org_id, media_id),
                    condition=All(ItemExists(), AttrEquals("state", MediaState.PENDING.value)),
                )
            )
            ops.append(event_op(found, "media.expired", clock=self.clock))
        try:
            await self.store.transact_write(ops)
        except (TransactionCanceled, WriteConflict):
            return  # confirmed (or collected) meanwhile: the object stays
        if found is None or found.state is MediaState.PENDING:
            await self._delete_object(entry["bucket"], entry["key"], None, report)

    # ------------------------------------------------------------------ pass 2
    async def _listed(self, report: GcReport, dry_run: bool, tick: Progress) -> None:
        in_use: dict[tuple[str, str], MediaUse] = {}
        for bucket, prefix in _LISTED:
            cursor: str | None = None
            while True:
                page = await self.blobs.list(
                    bucket, prefix, cursor=cursor, limit=_PAGE, metadata=False
                )
                await self._judge(bucket, page.items, report, dry_run, in_use)
                tick(f"objects in {bucket}", len(page.items))
                cursor = page.cursor
                if cursor is None:
                    break

    async def _judge(
        self,
        bucket: str,
        objects: list[BlobInfo],
        report: GcReport,
        dry_run: bool,
        in_use: dict[tuple[str, str], MediaUse],
    ) -> None:
        by_org: dict[str, list[tuple[BlobInfo, str, str]]] = {}
        for info in objects:
            report.looked_at += 1
            parsed = repo.parse_object_key(info.key)
            if parsed is None:
                continue  # not ours
            kind, org_id, media_id = parsed
            by_org.setdefault(org_id, []).append((info, kind, media_id))
        for org_id, found in by_org.items():
            records = await lookup.load(self.store, org_id, (m for _, _, m in found))
            for info, kind, media_id in found:
                await self._judge_one(
                    bucket, info, kind, records.get(media_id), report, dry_run, in_use
                )

    async def _judge_one(
        self,
        bucket: str,
        info: BlobInfo,
        kind: str,
        media: Media | None,
        report: GcReport,
        dry_run: bool,
        in_use: dict[tuple[str, str], MediaUse],
    ) -> None:
        now = self.clock()
        young = now - info.last_modified.timestamp() <= (
            self.policy.upload_expires_seconds + self.policy.confirm_grace_seconds
        )
        if media is None:  # its record expired, or a crash between writes
            if not young:
                report.orphans += 1
                await self._delete_object(bucket, info.key, info, report, dry_run)
            return
        pending = media.state is MediaState.PENDING
        the_file = info.key == media.key  # the original (a pinned upload stays put)
        if media.state in (MediaState.REJECTED, MediaState.DELETED) or (
            # an upload sent again after its confirm; a thumbnail of a file not
            # ready; an original a losing confirm copied (while pending: when old)
            (kind == "upload" and not pending and not the_file)
            or (kind == "thumbnail" and media.state is not MediaState.READY)
            or (kind == "file" and not the_file and not (pending and young))
        ):
            report.rejected += 1
            await self._delete_object(bucket, info.key, info, report, dry_run)
            return
        if (
            kind == "thumbnail"
            or not the_file
            or media.state is not MediaState.READY
            or now - _ts(media.confirmed_at or media.created_at)
            <= self.policy.detached_grace_seconds
        ):
            return
        guard = await self._used(media, in_use)
        if guard is True:
            return
        report.detached += 1
        if not dry_run:
            await self._detach(media, guard, info, report)
        else:
            report.objects_deleted += 1 + len(media.thumbnail_keys)
            report.bytes_freed += info.size

    async def _used(self, media: Media, in_use: dict[tuple[str, str], MediaUse]) -> Check | bool:
        """Whether something names ``media``: True, or the check that fails if that
        changes before the collector's write (False: nothing to check)."""
        target = media.target
        if target.user_id is not None:
            avatar, guard = await self.profiles.avatar_of(media.org_id, target.user_id)
            return True if avatar == media.id else (guard or False)
        if target.assignment_id is None:
            return False
        key = (media.org_id, target.assignment_id)
        if key not in in_use:
            in_use[key] = await self.answers.media_in_use(media.org_id, target.assignment_id)
        use = in_use[key]
        if media.id in use.ids or (media.purpose is Purpose.DOCUMENT and use.exists):
            return True  # a document stays with its assignment
        return use.guard or False

    async def _detach(
        self, media: Media, guard: Check | bool, info: BlobInfo, report: GcReport
    ) -> None:
        now = iso(self.clock())
        ops: list[TransactOp] = [
            Update(
                repo.MEDIA,
                repo.media_key(media.org_id, media.id),
                UpdateSpec(
                    set={
                        "state": MediaState.DELETED.value,
                        "updated_at": now,
                        "version": media.version + 1,
                    }
                ),
                condition=All(
                    ItemExists(),
                    AttrEquals("state", MediaState.READY.value),
                    AttrEquals("version", media.version),
                ),
            ),
            event_op(media, "media.deleted", clock=self.clock, reason="detached"),
        ]
        if isinstance(guard, Check):
            ops.append(guard)  # the answers (or profile) as read: unchanged
        try:
            await self.store.transact_write(ops)
        except (TransactionCanceled, WriteConflict):
            return  # changed meanwhile: judged again next run
        await self._delete_object(media.bucket, media.key, info, report)
        for key in media.thumbnail_keys.values():
            await self._delete_object("thumbnails", key, None, report)

    # ------------------------------------------------------------------ helpers
    async def _delete_object(
        self,
        bucket: str,
        key: str,
        info: BlobInfo | None,
        report: GcReport,
        dry_run: bool = False,
    ) -> None:
        report.objects_deleted += 1
        report.bytes_freed += info.size if info is not None else 0
        if dry_run:
            return
        try:
            await self.blobs.delete(bucket, key)
        except PreworkError as exc:
            report.failures.append(f"{bucket}/{key}: {exc.code}")


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()
