"""The file format of the embedded blob backend: one object, one file.

An object file starts with a fixed-size header (magic, JSON metadata: key, size,
content type, ETag, modification time, SHA-256 of the body) followed by the
body, so the metadata and the body are replaced together by one ``os.replace``.
Files written before the SHA-256 was recorded have no ``sha256`` member; they
read as ``sha256=None``. A write streams into a ``.tmp-*`` file
(:class:`PendingFile`), fsynced before the rename and its directory after;
:func:`remove_stale_temp_files` clears what a crashed writer left. Reads
stream the body in chunks (:class:`LocalBlobStream`), optionally one byte
range. :func:`scan_keys` walks a bucket directory for listings.
Everything here is blocking file I/O: callers run it in worker threads. The
store itself (buckets, keys, signed URLs) is :mod:`prework.blobs.local`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import struct
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import anyio
import anyio.to_thread

from prework.blobs.base import BlobInfo, BlobStream
from prework.errors import Internal, NotFound, Unavailable, ValidationFailed

__all__ = [
    "CHUNK_SIZE",
    "HEADER_SIZE",
    "STALE_TEMP_SECONDS",
    "LocalBlobStream",
    "PendingFile",
    "etag_hasher",
    "fsync_dir",
    "now",
    "open_object",
    "read_info",
    "remove_stale_temp_files",
    "scan_keys",
]

CHUNK_SIZE = 64 * 1024
HEADER_SIZE = 4096
STALE_TEMP_SECONDS = 3600
_MAGIC = b"PWB1"
_PREFIX = struct.Struct(">4sI")
_TMP_PREFIX = ".tmp-"
_OBJECT_NAME = re.compile(r"[0-9a-f]{64}")
_SUBDIR_NAME = re.compile(r"[0-9a-f]{2}")


def now() -> float:
    return time.time()


def etag_hasher() -> Any:
    return hashlib.md5(usedforsecurity=False)


def _encode_header(meta: Mapping[str, Any]) -> bytes:
    body = json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(body) > HEADER_SIZE - _PREFIX.size:
        raise ValidationFailed("Blob metadata too long.", code="invalid_key")
    return _PREFIX.pack(_MAGIC, len(body)) + body + b"\0" * (HEADER_SIZE - _PREFIX.size - len(body))


def _decode_header(raw: bytes, path: Path) -> BlobInfo:
    try:
        magic, length = _PREFIX.unpack_from(raw)
        if magic != _MAGIC:
            raise ValueError("bad magic")
        meta = json.loads(raw[_PREFIX.size : _PREFIX.size + length])
        return BlobInfo(
            key=meta["key"],
            size=int(meta["size"]),
            content_type=meta["content_type"],
            etag=meta["etag"],
            last_modified=datetime.fromtimestamp(meta["mtime"], UTC),
            sha256=_optional_str(meta.get("sha256")),
        )
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise Internal(f"Corrupt blob file {path.name}.") from exc


def _optional_str(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def fsync_dir(path: Path) -> None:
    """Make the entries of directory ``path`` (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temp_files(bucket_dirs: Sequence[Path], older_than: float) -> int:
    """Delete ``.tmp-*`` files modified before ``older_than`` in the object
    directories (``<bucket>/<h[:2]>/``); return how many. Blocks."""
    removed = 0
    for bucket_dir in bucket_dirs:
        try:
            subdirs = [e for e in os.scandir(bucket_dir) if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            continue
        for subdir in subdirs:
            with os.scandir(subdir.path) as entries:
                for entry in entries:
                    if not entry.name.startswith(_TMP_PREFIX) or not entry.is_file(
                        follow_symlinks=False
                    ):
                        continue
                    try:
                        if entry.stat(follow_symlinks=False).st_mtime < older_than:
                            os.unlink(entry.path)
                            removed += 1
                    except FileNotFoundError:
                        pass  # its writer finished or another init got there first
    return removed


class PendingFile:
    """A temp file being filled; committed with ``os.replace`` or discarded.

    Every method blocks: call them from a worker thread.
    """

    def __init__(self, final_path: Path) -> None:
        self.final_path = final_path
        self.size = 0
        self._hash = etag_hasher()
        self._sha256 = hashlib.sha256()
        self._fh: IO[bytes] | None = None
        self._tmp: str | None = None
        self._made_dir = False

    def open(self) -> None:
        directory = self.final_path.parent
        try:
            directory.mkdir()
            self._made_dir = True
        except FileExistsError:
            pass
        except FileNotFoundError as exc:
            raise Unavailable(
                f"Blob directory {directory.parent} is missing; run `prework init`.",
                code="bucket_missing",
            ) from exc
        fd, self._tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=directory)
        self._fh = os.fdopen(fd, "wb")
        self._fh.seek(HEADER_SIZE)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert self._fh is not None
        self._fh.write(data)
        self._hash.update(data)
        self._sha256.update(data)
        self.size += len(data)

    def commit(self, key: str, content_type: str, expected_sha256: str | None = None) -> BlobInfo:
        """Write the header and rename the file into place. With
        ``expected_sha256`` (lowercase hex), a body hashing to anything else
        raises ValidationFailed ``checksum_mismatch`` and commits nothing (the
        caller discards)."""
        assert self._fh is not None
        assert self._tmp is not None
        sha256 = self._sha256.hexdigest()
        if expected_sha256 is not None and sha256 != expected_sha256:
            raise ValidationFailed(
                "The upload's SHA-256 does not match the checksum it was signed for.",
                code="checksum_mismatch",
                details={"expected_sha256": expected_sha256, "sha256": sha256},
            )
        mtime = now()
        etag = self._hash.hexdigest()
        header = _encode_header(
            {
                "key": key,
                "size": self.size,
                "content_type": content_type,
                "etag": etag,
                "mtime": mtime,
                "sha256": sha256,
            }
        )
        self._fh.seek(0)
        self._fh.write(header)
        self._fh.flush()
        os.fsync(self._fh.fileno())  # the data is on disk before the name points at it
        self._fh.close()
        os.replace(self._tmp, self.final_path)
        self._tmp = None
        fsync_dir(self.final_path.parent)  # ...and so is the rename
        if self._made_dir:
            fsync_dir(self.final_path.parent.parent)
        return BlobInfo(
            key=key,
            size=self.size,
            content_type=content_type,
            etag=etag,
            last_modified=datetime.fromtimestamp(mtime, UTC),
            sha256=sha256,
        )

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            self._tmp = None


class LocalBlobStream(BlobStream):
    """An object file being read (from :meth:`LocalBlobStore.get`)."""

    def __init__(self, fh: IO[bytes], info: BlobInfo) -> None:
        self.info = info
        self._fh = fh
        self._offset = 0
        self._remaining = info.size
        self._started = False
        self._closed = False

    def restrict(self, start: int, stop: int) -> None:
        """Read only bytes ``start`` (inclusive) to ``stop`` (exclusive) of the
        body. Call before iterating; ``0 <= start <= stop <= info.size``."""
        if self._started:
            raise RuntimeError("restrict() must come before reading")
        if not 0 <= start <= stop <= self.info.size:
            raise ValueError(f"range {start}..{stop} outside 0..{self.info.size}")
        self._offset, self._remaining = start, stop - start

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    def _read(self, size: int, seek: int | None) -> bytes:
        if seek is not None:
            self._fh.seek(HEADER_SIZE + seek)
        return self._fh.read(size)

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            while not self._closed and self._remaining > 0:
                seek = None if self._started else self._offset
                self._started = True
                size = min(CHUNK_SIZE, self._remaining)
                try:
                    chunk = await anyio.to_thread.run_sync(self._read, size, seek)
                except OSError as exc:
                    raise Unavailable(f"Blob storage I/O failed: {exc.strerror or exc}.") from exc
                if not chunk:
                    break
                self._remaining -= len(chunk)
                yield chunk
        finally:
            await self.close()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._fh.close()  # a read-only close does not block


def open_object(path: Path, key: str) -> tuple[IO[bytes], BlobInfo]:
    try:
        fh = path.open("rb")
    except FileNotFoundError as exc:
        raise NotFound("No such blob.", details={"key": key}) from exc
    try:
        info = _decode_header(fh.read(HEADER_SIZE), path)
    except BaseException:
        fh.close()
        raise
    return fh, info


def read_info(path: Path) -> BlobInfo | None:
    """The header of the object file at ``path``; None if there is no such file."""
    try:
        with path.open("rb", buffering=0) as fh:
            raw = fh.read(HEADER_SIZE)
    except FileNotFoundError:
        return None
    return _decode_header(raw, path)


def scan_keys(bucket_dir: Path, known: Mapping[str, str]) -> dict[str, str]:
    """The key of every object in ``bucket_dir``, by file name.

    One walk of ``<bucket>/<h[:2]>/<h>`` (``os.scandir``: names only); a file
    whose name is in ``known`` takes its key from there (a file's name is the
    hash of its key, so that never goes stale), any other has its header read.
    Temp files and anything not named like an object are passed over; a file
    that vanishes between the walk and the read is left out. Blocks.
    """
    found: dict[str, str] = {}
    with os.scandir(bucket_dir) as subdirs:
        for subdir in subdirs:
            if not _SUBDIR_NAME.fullmatch(subdir.name) or not subdir.is_dir(follow_symlinks=False):
                continue
            with os.scandir(subdir.path) as entries:
                for entry in entries:
                    name = entry.name
                    if not _OBJECT_NAME.fullmatch(name) or not name.startswith(subdir.name):
                        continue  # temp files (.tmp-*) and strangers
                    key = known.get(name)
                    if key is None:
                        info = read_info(Path(entry.path))
                        if info is None:
                            continue  # deleted since the walk saw it
                        key = info.key
                    found[name] = key
    return found
