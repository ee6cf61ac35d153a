"""The embedded blob backend: objects as files under a root directory.

Layout: one directory per physical bucket under ``root``; an object lives at
``<bucket>/<h[:2]>/<h>`` where ``h`` is the SHA-256 of its key. Hashing the
key means no key can name a path outside its bucket, keys ``a`` and ``a/b``
can both exist, and long keys never hit a file-name limit. Each object file
starts with a fixed-size header (magic, JSON metadata: key, size, content
type, ETag, modification time) followed by the body, so the metadata and the
body are replaced together by one ``os.replace``: readers see the old object
or the new one, never a mix, and an open reader keeps reading the version it
opened.

A write streams into a ``.tmp-*`` file in the object's directory and is
renamed into place only when the body is complete and within its size limits;
on any failure the temp file is deleted. The file is fsynced before the
rename and its directory after, so a completed ``put`` survives a power cut.
Temp files a crashed process left behind are removed by :meth:`init` once
they are older than :data:`STALE_TEMP_SECONDS` (younger ones may belong to a
live writer in another process). All file I/O runs in worker threads.

Reads can be limited to a byte range (:meth:`LocalBlobStream.restrict`), which
the download route uses for HTTP ``Range`` requests.

Presigned URLs are HMAC-SHA256-signed URLs of this app, served by
:mod:`prework.http.blobs`: uploads mirror S3's browser POST form
(``key``, ``bucket``, ``Content-Type``, ``policy``, ``signature``), downloads
are ``/api/blobs/<bucket>/<key>?expires=..&signature=..[&filename=..]``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import json
import math
import os
import re
import struct
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar, TypeVarTuple
from urllib.parse import quote, urlencode

import anyio
import anyio.to_thread

from prework.blobs._keys import (
    content_disposition,
    physical_bucket,
    validate_content_type,
    validate_expires_in,
    validate_key,
    validate_size_range,
)
from prework.blobs.base import BlobInfo, BlobStore, BlobStream, PresignedUpload
from prework.errors import (
    Forbidden,
    Internal,
    NotFound,
    TooLarge,
    Unavailable,
    ValidationFailed,
)

__all__ = ["STALE_TEMP_SECONDS", "LocalBlobStore", "LocalBlobStream", "UploadPolicy"]

CHUNK_SIZE = 64 * 1024
HEADER_SIZE = 4096
STALE_TEMP_SECONDS = 3600
_MAGIC = b"PWB1"
_PREFIX = struct.Struct(">4sI")
_TMP_PREFIX = ".tmp-"
_KEY_CONTEXT = b"prework.blobs.v1"
_EXPIRES_RE = re.compile(r"[0-9]{1,12}")

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class UploadPolicy:
    """What a presigned upload form allows (decoded from its ``policy`` field)."""

    bucket: str
    key: str
    content_type: str
    min_size: int
    max_size: int
    expires: int


def _now() -> float:
    return time.time()


def _etag_hasher() -> Any:
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
        )
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise Internal(f"Corrupt blob file {path.name}.") from exc


def _fsync_dir(path: Path) -> None:
    """Make the entries of directory ``path`` (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temp_files(bucket_dirs: Sequence[Path], older_than: float) -> int:
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


class _PendingFile:
    """A temp file being filled; committed with ``os.replace`` or discarded.

    Every method blocks: call them from a worker thread.
    """

    def __init__(self, final_path: Path) -> None:
        self.final_path = final_path
        self.size = 0
        self._hash = _etag_hasher()
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
        self.size += len(data)

    def commit(self, key: str, content_type: str) -> BlobInfo:
        assert self._fh is not None
        assert self._tmp is not None
        mtime = _now()
        etag = self._hash.hexdigest()
        header = _encode_header(
            {
                "key": key,
                "size": self.size,
                "content_type": content_type,
                "etag": etag,
                "mtime": mtime,
            }
        )
        self._fh.seek(0)
        self._fh.write(header)
        self._fh.flush()
        os.fsync(self._fh.fileno())  # the data is on disk before the name points at it
        self._fh.close()
        os.replace(self._tmp, self.final_path)
        self._tmp = None
        _fsync_dir(self.final_path.parent)  # ...and so is the rename
        if self._made_dir:
            _fsync_dir(self.final_path.parent.parent)
        return BlobInfo(
            key=key,
            size=self.size,
            content_type=content_type,
            etag=etag,
            last_modified=datetime.fromtimestamp(mtime, UTC),
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


def _open_object(path: Path, key: str) -> tuple[IO[bytes], BlobInfo]:
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


class LocalBlobStore(BlobStore):
    """Blobs in files under ``root``; presigned URLs point at this app."""

    serves_through_app = True

    def __init__(
        self,
        root: Path,
        *,
        bucket_names: Mapping[str, str],
        public_url: str,
        secret: bytes,
        previous_secrets: Sequence[bytes] = (),
    ) -> None:
        if not secret:
            raise ValueError("LocalBlobStore needs a non-empty secret")
        self.root = Path(root)
        self._bucket_names = dict(bucket_names)
        self._public_url = public_url.rstrip("/")
        # a key of our own, so these signatures never verify anywhere else
        self._signing_keys = [
            hmac.new(s, _KEY_CONTEXT, hashlib.sha256).digest() for s in (secret, *previous_secrets)
        ]

    # -- paths -------------------------------------------------------------

    def _bucket_dir(self, bucket: str) -> Path:
        return self.root / physical_bucket(self._bucket_names, bucket)

    def _object_path(self, bucket: str, key: str) -> Path:
        directory = self._bucket_dir(bucket)
        validate_key(key)
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return directory / digest[:2] / digest

    # -- lifecycle ---------------------------------------------------------

    async def init(self) -> None:
        """Create the bucket directories; remove temp files older than
        :data:`STALE_TEMP_SECONDS` (left by a crashed writer)."""
        bucket_dirs = [self.root / name for name in self._bucket_names.values()]

        def make() -> None:
            for directory in bucket_dirs:
                directory.mkdir(parents=True, exist_ok=True)
            _remove_stale_temp_files(bucket_dirs, _now() - STALE_TEMP_SECONDS)

        try:
            await anyio.to_thread.run_sync(make)
        except OSError as exc:
            raise Unavailable(f"Cannot create blob directories under {self.root}.") from exc

    async def ping(self) -> None:
        def check() -> list[str]:
            return [
                name
                for name in self._bucket_names.values()
                if not os.access(self.root / name, os.R_OK | os.W_OK | os.X_OK)
            ]

        missing = await anyio.to_thread.run_sync(check)
        if missing:
            raise Unavailable(
                f"Blob directories missing or not writable under {self.root}: "
                f"{', '.join(missing)}; run `prework init`.",
                code="bucket_missing",
            )

    async def close(self) -> None:
        return None

    # -- objects -----------------------------------------------------------

    async def put(
        self,
        bucket: str,
        key: str,
        body: bytes | AsyncIterator[bytes],
        *,
        content_type: str,
        max_size: int | None = None,
    ) -> BlobInfo:
        return await self._put(bucket, key, body, content_type=content_type, max_size=max_size)

    async def _put(
        self,
        bucket: str,
        key: str,
        body: bytes | AsyncIterator[bytes],
        *,
        content_type: str,
        max_size: int | None,
        min_size: int = 0,
    ) -> BlobInfo:
        path = self._object_path(bucket, key)
        validate_content_type(content_type)
        pending = _PendingFile(path)

        def too_large() -> TooLarge:
            return TooLarge(
                f"The blob is larger than {max_size} bytes.", details={"max_size": max_size}
            )

        def check_min() -> None:
            if pending.size < min_size:
                raise ValidationFailed(
                    f"The blob is smaller than {min_size} bytes.",
                    code="too_small",
                    details={"min_size": min_size},
                )

        if isinstance(body, bytes | bytearray | memoryview):
            data = bytes(body)
            if max_size is not None and len(data) > max_size:
                raise too_large()

            def write_all() -> BlobInfo:
                try:
                    pending.open()
                    pending.write(data)
                    check_min()
                    return pending.commit(key, content_type)
                except BaseException:
                    pending.discard()
                    raise

            return await self._io(write_all)

        try:
            await self._io(pending.open)
            buffer = bytearray()
            received = 0
            async for chunk in body:
                received += len(chunk)
                if max_size is not None and received > max_size:
                    raise too_large()
                buffer += chunk
                if len(buffer) >= CHUNK_SIZE:
                    data = bytes(buffer)
                    buffer.clear()
                    await self._io(pending.write, data)
            if buffer:
                await self._io(pending.write, bytes(buffer))
            check_min()
            return await self._io(pending.commit, key, content_type)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(pending.discard)
            raise

    @staticmethod
    async def _io(func: Callable[[*Ts], T], *args: *Ts) -> T:
        """Run blocking file work in a thread, mapping OS errors to Unavailable."""
        try:
            return await anyio.to_thread.run_sync(func, *args)
        except OSError as exc:
            raise Unavailable(f"Blob storage I/O failed: {exc.strerror or exc}.") from exc

    async def get(self, bucket: str, key: str) -> LocalBlobStream:
        path = self._object_path(bucket, key)
        fh, info = await self._io(_open_object, path, key)
        return LocalBlobStream(fh, info)

    async def head(self, bucket: str, key: str) -> BlobInfo:
        path = self._object_path(bucket, key)
        fh, info = await self._io(_open_object, path, key)
        fh.close()
        return info

    async def delete(self, bucket: str, key: str) -> None:
        path = self._object_path(bucket, key)

        await self._io(functools.partial(path.unlink, missing_ok=True))

    # -- signing -----------------------------------------------------------

    def _sign(self, message: bytes, key: bytes | None = None) -> str:
        return hmac.new(key or self._signing_keys[0], message, hashlib.sha256).hexdigest()

    def _signature_ok(self, message: bytes, signature: str) -> bool:
        given = signature.encode("ascii", "replace")
        ok = False
        for key in self._signing_keys:  # no early exit: same work whatever matches
            ok |= hmac.compare_digest(self._sign(message, key).encode("ascii"), given)
        return ok

    @staticmethod
    def _expiry(expires_in: int) -> int:
        return math.ceil(_now() + validate_expires_in(expires_in))

    # -- presigned upload --------------------------------------------------

    async def presign_upload(
        self,
        bucket: str,
        key: str,
        *,
        content_type: str,
        max_size: int,
        min_size: int = 1,
        expires_in: int = 900,
    ) -> PresignedUpload:
        self._object_path(bucket, key)
        validate_content_type(content_type)
        validate_size_range(min_size, max_size)
        expires = self._expiry(expires_in)
        policy_doc = {
            "bucket": bucket,
            "key": key,
            "content_type": content_type,
            "min_size": min_size,
            "max_size": max_size,
            "expires": expires,
        }
        policy = base64.b64encode(
            json.dumps(policy_doc, separators=(",", ":"), sort_keys=True).encode("utf-8")
        ).decode("ascii")
        fields = {
            "key": key,
            "bucket": bucket,
            "Content-Type": content_type,
            "policy": policy,
            "signature": self._sign(b"upload\n" + policy.encode("ascii")),
        }
        return PresignedUpload(
            url=f"{self._public_url}/api/blobs/upload",
            fields=fields,
            expires_at=datetime.fromtimestamp(expires, UTC),
        )

    def verify_upload(self, fields: Mapping[str, str]) -> UploadPolicy:
        """Check an upload form's fields (names case-insensitive) against its
        signed policy; return the policy or raise Forbidden (``signature_invalid``,
        ``expired``, ``policy_violation``)."""
        form = {name.lower(): value for name, value in fields.items()}
        policy_b64 = form.get("policy", "")
        signature = form.get("signature", "")
        if not policy_b64 or not signature:
            raise Forbidden("The upload form is not signed.", code="signature_invalid")
        if not policy_b64.isascii() or not self._signature_ok(
            b"upload\n" + policy_b64.encode("ascii"), signature
        ):
            raise Forbidden("The upload signature is not valid.", code="signature_invalid")
        try:
            doc = json.loads(base64.b64decode(policy_b64, validate=True))
            policy = UploadPolicy(
                bucket=str(doc["bucket"]),
                key=str(doc["key"]),
                content_type=str(doc["content_type"]),
                min_size=int(doc["min_size"]),
                max_size=int(doc["max_size"]),
                expires=int(doc["expires"]),
            )
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise Forbidden("The upload policy is not valid.", code="signature_invalid") from exc
        if _now() > policy.expires:
            raise Forbidden("The upload form has expired.", code="expired")
        if policy.bucket not in self._bucket_names:
            raise Forbidden("The upload policy names an unknown bucket.", code="policy_violation")
        for name, wanted in (
            ("bucket", policy.bucket),
            ("key", policy.key),
            ("content-type", policy.content_type),
        ):
            if form.get(name) != wanted:
                raise Forbidden(
                    f"The form field {name!r} does not match the upload policy.",
                    code="policy_violation",
                    details={"field": name},
                )
        return policy

    async def accept_upload(
        self, fields: Mapping[str, str], body: AsyncIterator[bytes]
    ) -> BlobInfo:
        """Store a presigned upload: verify ``fields`` (before reading ``body``),
        then stream ``body`` in, holding it to the policy's size range."""
        policy = self.verify_upload(fields)
        return await self._put(
            policy.bucket,
            policy.key,
            body,
            content_type=policy.content_type,
            max_size=policy.max_size,
            min_size=policy.min_size,
        )

    # -- presigned download ------------------------------------------------

    @staticmethod
    def _download_message(bucket: str, key: str, expires: int, filename: str | None) -> bytes:
        return json.dumps(["download", bucket, key, expires, filename or ""]).encode("utf-8")

    async def presign_download(
        self,
        bucket: str,
        key: str,
        *,
        expires_in: int = 900,
        filename: str | None = None,
    ) -> str:
        self._object_path(bucket, key)
        if filename is not None:
            content_disposition(filename)
        expires = self._expiry(expires_in)
        params: dict[str, str] = {
            "expires": str(expires),
            "signature": self._sign(self._download_message(bucket, key, expires, filename)),
        }
        if filename:
            params["filename"] = filename
        return (
            f"{self._public_url}/api/blobs/{quote(bucket, safe='')}/{quote(key, safe='/')}"
            f"?{urlencode(params, quote_via=quote)}"
        )

    def verify_download(
        self,
        bucket: str,
        key: str,
        expires: str | None,
        signature: str | None,
        filename: str | None = None,
    ) -> None:
        """Check a download URL's signature and expiry; raise Forbidden
        (``signature_invalid`` or ``expired``) or NotFound (unknown bucket)."""
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses
        if not expires or not signature or not _EXPIRES_RE.fullmatch(expires):
            raise Forbidden("The download link is not signed.", code="signature_invalid")
        expires_at = int(expires)
        message = self._download_message(bucket, key, expires_at, filename)
        if not self._signature_ok(message, signature):
            raise Forbidden("The download signature is not valid.", code="signature_invalid")
        if _now() > expires_at:
            raise Forbidden("The download link has expired.", code="expired")
        if bucket not in self._bucket_names:
            raise NotFound("No such bucket.", details={"bucket": bucket})
