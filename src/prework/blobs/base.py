"""The blob port: the seed's S3 buckets behind a narrow async interface.

Buckets are named logically (:data:`BUCKETS`: ``media``, ``thumbnails``,
``documents``); the adapter maps them to physical names (by default the seed's
``pre-work-media-uploads``, ``pre-work-thumbnails``, ``pre-work-documents``).
An unknown logical bucket raises ``ValueError`` (a bug, not user input).

Keys are ``/``-separated, 1..1024 bytes of UTF-8, without ``..`` segments,
a leading ``/``, backslashes or control characters; anything else raises
:class:`~prework.errors.ValidationFailed` (code ``invalid_key``).

Errors: a missing object raises :class:`~prework.errors.NotFound`; a body over
``max_size`` raises :class:`~prework.errors.TooLarge` and leaves nothing
behind (no partial object, no temp file); engine trouble raises
:class:`~prework.errors.Unavailable`.

Presigned uploads are browser-style POST forms: ``url`` plus ``fields`` that
the client sends back unchanged with the file as the last form part named
``file``. The policy pins the exact key, the exact content type and the size
range, and expires. Every backend rejects a wrong key, wrong content type, a
body outside the size range, an expired policy or a tampered signature (the
``file`` backend answers these with Prework's JSON error envelope, S3 with
its XML errors; both with a 4xx status) and stores nothing. Given
``checksum_sha256`` (hex), the form also pins the body's SHA-256 and a body
that hashes to anything else is refused the same way (the ``file`` backend:
422 ``checksum_mismatch``).

Listing: :meth:`BlobStore.list` pages through a bucket's keys that start with
a plain string ``prefix`` (not only on a ``/`` boundary: ``org/ab`` matches
``org/abc/x``), in UTF-8 byte order of the keys (S3's order; for keys without
lone surrogates it is also Python's ``str`` order). A page holds at most
``limit`` items (1..1000, else ``ValueError``); its ``cursor`` is ``None`` once
the listing has reached the end, otherwise the value to pass as ``cursor``
for the next page. The cursor is a key (the last one the page covered): the
next page holds the keys strictly after it, whichever engine made it, and a
cursor stays valid while objects come and go (a key deleted before its page is
read is not listed, a key added after the cursor is). A page may hold fewer
than ``limit`` items while ``cursor`` is not ``None`` (objects deleted while it
was read); only ``cursor is None`` means the end. An invalid ``prefix`` raises
ValidationFailed ``invalid_key``, an invalid ``cursor`` ``invalid_cursor``.
AWS S3 lists exactly so; SeaweedFS orders ``/`` first and loses keys under a
cursor that is also a "directory" (see :mod:`prework.blobs.s3`).

Checksums: :attr:`BlobInfo.sha256` is the lowercase hex SHA-256 of the whole
body when the engine knows it, else ``None``; never a guess. The ``file``
backend computes it on every write; an S3 engine reports it only for objects
stored with a whole-object SHA-256 checksum (see :mod:`prework.blobs.s3`).
Whoever needs the digest of an object whose ``sha256`` is ``None`` must read
the body and hash it.

Copying: :meth:`BlobStore.copy` copies an object (body and content type) to
another key, in the same bucket or another, replacing what is there,
atomically for readers of the destination. Given ``if_match`` (an ETag as
:attr:`BlobInfo.etag` gives it) it copies only the version with that ETag:
if the source is another version by the time it is copied, it raises
:class:`~prework.errors.ConditionFailed` (code ``changed``) and writes
nothing; the version copied is always one whole version, never a mix.
Copying an object onto itself writes nothing (the object already is its own
copy) and answers as a copy would (``if_match`` checked, its ``BlobInfo``).
The copy's ETag equals the source's when the source is a single-part object
(on S3 the copy of a multipart object may get another). Objects over 5 GiB
cannot be copied on S3 (ValidationFailed ``too_large_to_copy``).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

BUCKETS = ("media", "thumbnails", "documents")
DEFAULT_BUCKET_NAMES: Mapping[str, str] = {
    "media": "pre-work-media-uploads",
    "thumbnails": "pre-work-thumbnails",
    "documents": "pre-work-documents",
}


@dataclass(frozen=True, slots=True)
class BlobInfo:
    key: str
    size: int
    content_type: str
    etag: str
    last_modified: datetime
    sha256: str | None = None
    """Lowercase hex SHA-256 of the body, when the engine knows it (see the module)."""


@dataclass(frozen=True, slots=True)
class BlobPage:
    """One page of :meth:`BlobStore.list`: ``items`` in key order; ``cursor``
    for the next page, ``None`` at the end."""

    items: list[BlobInfo]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    url: str
    fields: dict[str, str]
    expires_at: datetime


class BlobStream(abc.ABC):
    """An object being read: its ``info`` and its body as chunks.

    Use as an async context manager, or call :meth:`close`; iterating to the
    end also releases it.
    """

    info: BlobInfo

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[bytes]: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def read(self) -> bytes:
        """The whole body (for small objects)."""
        parts = [chunk async for chunk in self]
        return b"".join(parts)

    async def __aenter__(self) -> BlobStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class BlobStore(abc.ABC):
    serves_through_app: ClassVar[bool] = False
    """True when this engine's presigned URLs point at the app itself (the file
    engine), so the app mounts the routes that serve them (``/api/blobs/...``)."""

    @abc.abstractmethod
    async def init(self) -> None:
        """Create missing buckets/directories. Idempotent."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Return if the engine answers; raise Unavailable if not."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def put(
        self,
        bucket: str,
        key: str,
        body: bytes | AsyncIterator[bytes],
        *,
        content_type: str,
        max_size: int | None = None,
    ) -> BlobInfo:
        """Store ``body`` (streamed; never buffered whole for an iterator) under
        ``key``, replacing any object there, atomically: readers see the old
        object or the new one, never a part."""

    @abc.abstractmethod
    async def get(self, bucket: str, key: str) -> BlobStream:
        """Open the object for streaming. Raises NotFound."""

    @abc.abstractmethod
    async def head(self, bucket: str, key: str) -> BlobInfo:
        """The object's metadata. Raises NotFound."""

    @abc.abstractmethod
    async def copy(
        self,
        bucket: str,
        key: str,
        dest_bucket: str,
        dest_key: str,
        *,
        if_match: str | None = None,
    ) -> BlobInfo:
        """Copy the object to ``dest_bucket``/``dest_key`` (replacing what is there),
        with its content type; atomically for readers of the destination. With
        ``if_match`` (an ETag as BlobInfo.etag gives it, no quotes) only if the source
        is still that version: else ConditionFailed (code ``changed``), nothing written.
        A missing source raises NotFound. The copy's BlobInfo carries its SHA-256 where
        the engine knows it (the file engine: always)."""

    @abc.abstractmethod
    async def delete(self, bucket: str, key: str) -> None:
        """Delete the object; an absent object is not an error."""

    @abc.abstractmethod
    async def list(
        self,
        bucket: str,
        prefix: str = "",
        *,
        cursor: str | None = None,
        limit: int = 1000,
        metadata: bool = True,
    ) -> BlobPage:
        """One page of the objects whose keys start with ``prefix``, in key
        order, after ``cursor`` (see the module for the rules). With ``metadata``
        false only each item's key, size, ETag and modification time are promised
        (``content_type`` may be empty, ``sha256`` None): on S3 that spares a HEAD
        per key (the collector's listing needs no more)."""

    @abc.abstractmethod
    async def presign_upload(
        self,
        bucket: str,
        key: str,
        *,
        content_type: str,
        max_size: int,
        min_size: int = 1,
        expires_in: int = 900,
        checksum_sha256: str | None = None,
    ) -> PresignedUpload:
        """A POST form a client can upload exactly this key with.

        ``checksum_sha256`` (64 hex digits, any case) pins the body's SHA-256:
        a body that hashes to anything else is refused and stores nothing. An
        invalid value raises ValidationFailed ``invalid_checksum``."""

    @abc.abstractmethod
    async def presign_download(
        self,
        bucket: str,
        key: str,
        *,
        expires_in: int = 900,
        filename: str | None = None,
    ) -> str:
        """A GET URL for the object that stops working after ``expires_in``
        seconds. ``filename`` sets a Content-Disposition attachment name."""
