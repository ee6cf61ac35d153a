"""What the media services share: loading a record, its audit events and bus
events, and reading an object back into a spooled copy (counted)."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from typing import IO, Any, Final

import anyio
import anyio.to_thread
import structlog

from prework.blobs.base import BlobStore
from prework.core import audit
from prework.core.audit import SYSTEM, Actor
from prework.core.clock import Clock, iso
from prework.core.principal import Principal, RequestContext
from prework.errors import NotFound, PreworkError
from prework.media import repository as repo
from prework.media.inspect import SNIFF_BYTES
from prework.media.models import Media
from prework.pubsub.base import PubSub, org_topic
from prework.store.base import Store, TransactOp

__all__ = [
    "TARGET",
    "ReadCounter",
    "Spool",
    "announce",
    "event_op",
    "head_of",
    "load",
    "not_found",
    "read_copy",
]

log = structlog.get_logger("prework.media")

TARGET: Final = "media"
SPOOL_IN_MEMORY: Final = 256 * 1024  # a spooled copy past this goes to a temp file
HASH_BATCH: Final = 256 * 1024  # hashed in a worker thread this much at a time


def not_found() -> NotFound:
    return NotFound("No such file.", code="not_found")


async def load(store: Store, org_id: str, media_id: str) -> Media:
    """The organization's record ``media_id``; 404 ``not_found``."""
    item = await store.get(repo.MEDIA, repo.media_key(org_id, media_id))
    if not repo.is_record(item, org_id):
        raise not_found()
    assert item is not None
    return repo.media_of(item)


def event_op(
    media: Media,
    action: str,
    *,
    clock: Clock,
    principal: Principal | None = None,
    ctx: RequestContext | None = None,
    **details: Any,
) -> TransactOp:
    """The audit event of a change to ``media`` (by the system without a principal)."""
    return audit.event_op(
        org_id=media.org_id,
        action=action,
        actor=Actor.of(principal) if principal is not None else SYSTEM,
        ctx=ctx or RequestContext(),
        target_type=TARGET,
        target_id=media.id,
        details={"purpose": media.purpose.value, **media.target.as_dict(), **details},
        clock=clock,
    )


async def announce(pubsub: PubSub, media: Media, kind: str, *, clock: Clock, **data: Any) -> None:
    """A past-tense event about ``media`` on its organization's topic, after the
    commit (a lost notification is logged: the change stands)."""
    event = {
        "type": kind,
        "org_id": media.org_id,
        "at": iso(clock()),
        "media_id": media.id,
        "purpose": media.purpose.value,
        **media.target.as_dict(),
        **data,
    }
    try:
        await pubsub.publish(org_topic(media.org_id), event)
    except PreworkError:
        log.exception("publish_failed", event_type=kind)


@dataclass(slots=True)
class ReadCounter:
    """Bytes read back from storage (what ``make bench-media`` reports)."""

    total: int = 0


@dataclass(slots=True)
class Spool:
    file: IO[bytes]
    sha256: str | None = None
    etag: str | None = None  # of the version read


async def read_copy(
    blobs: BlobStore, bucket: str, key: str, *, whole: bool, counter: ReadCounter
) -> Spool:
    """The object (``whole``) or its first bytes, into a spooled temporary file,
    hashed on the way when whole (the caller closes ``file``). Raises NotFound."""
    spool = Spool(tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY))  # noqa: SIM115
    digest = hashlib.sha256()
    batch = bytearray()
    try:
        async with await blobs.get(bucket, key) as stream:
            spool.etag = stream.info.etag
            async for chunk in stream:
                counter.total += len(chunk)
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


def _take(digest: Any, file: IO[bytes], data: bytes) -> None:
    digest.update(data)
    file.write(data)


def head_of(file: IO[bytes]) -> bytes:
    """The first bytes of a copy (to sniff), its position left at the start."""
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    file.seek(0)
    return head
